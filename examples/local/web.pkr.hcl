# A small web-server image built locally with QEMU from kiln's Debian base
# image (scripts/base-image.sh makes it, from Debian's packages only).
#
#   bash scripts/base-image.sh            # once; prints the base directory
#   kiln build examples/local
#
# The image boots the base image's kernel directly (the base image has no
# bootloader), installs busybox's httpd as a systemd service serving
# files/index.html, and records the result in output/manifest.json.

packer {
  required_plugins {
    qemu = {
      version = ">= 1.1.0"
      source  = "github.com/hashicorp/qemu"
    }
  }
}

variable "base_dir" {
  type        = string
  description = "Directory written by scripts/base-image.sh: base.qcow2, vmlinuz and initrd.img."
  default     = "${env("HOME")}/.cache/kiln/base/bookworm"
}

variable "version" {
  type        = string
  description = "Version of the web image."
  default     = "1.0.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.version))
    error_message = "The version must look like 1.2.3."
  }
}

variable "port" {
  type        = number
  description = "Port the web server listens on inside the image."
  default     = 8080
}

locals {
  name = "web-${var.version}"
}

source "qemu" "web" {
  disk_image       = true
  iso_url          = "${var.base_dir}/base.qcow2"
  iso_checksum     = "none"
  use_backing_file = false
  format           = "qcow2"
  output_directory = "output/${local.name}"
  vm_name          = "${local.name}.qcow2"
  headless         = true
  memory           = 1024
  cpus             = 2

  qemuargs = [
    ["-kernel", "${var.base_dir}/vmlinuz"],
    ["-initrd", "${var.base_dir}/initrd.img"],
    ["-append", "root=/dev/vda rw console=ttyS0"],
  ]

  ssh_username     = "root"
  ssh_timeout      = "10m"
  shutdown_command = "systemctl poweroff"
}

build {
  name    = "web"
  sources = ["source.qemu.web"]

  provisioner "file" {
    source      = "${path.root}/files/index.html"
    destination = "/tmp/index.html"
  }

  provisioner "shell" {
    environment_vars = [
      "WEB_PORT=${var.port}",
      "WEB_VERSION=${var.version}",
    ]
    script = "${path.root}/scripts/install-web.sh"
  }

  post-processor "manifest" {
    output     = "output/manifest.json"
    strip_path = true
    custom_data = {
      version = var.version
      port    = var.port
    }
  }
}

# One template, two targets: the same web server baked into an AMI on EC2
# and into a local qcow2 with QEMU, from one provisioner list. Test the image
# locally, then build the AMI from the very same steps:
#
#   kiln build -only 'web.qemu.*' examples/hybrid         # local, no cloud account
#   kiln build -only 'web.amazon-ebs.*' examples/hybrid   # the AMI
#
# The scripts and the page are shared with examples/local.

packer {
  required_plugins {
    amazon = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/amazon"
    }
    qemu = {
      version = ">= 1.1.0"
      source  = "github.com/hashicorp/qemu"
    }
  }
}

variable "version" {
  type    = string
  default = "1.0.0"
}

variable "port" {
  type    = number
  default = 8080
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "base_dir" {
  type        = string
  description = "Directory written by scripts/base-image.sh, for the qemu target."
  default     = "${env("HOME")}/.cache/kiln/base/bookworm"
}

locals {
  name   = "web-${var.version}"
  shared = "${path.root}/../local"
}

source "amazon-ebs" "web" {
  region        = var.region
  instance_type = "t3.micro"
  ami_name      = "${local.name}-{{ timestamp }}"

  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["136693071363"]
    most_recent = true
  }

  ssh_username = "admin"
  tags = {
    Name          = local.name
    Version       = var.version
    SourceAMIName = "{{ .SourceAMIName }}"
  }
}

source "qemu" "web" {
  disk_image       = true
  iso_url          = "${var.base_dir}/base.qcow2"
  iso_checksum     = "none"
  format           = "qcow2"
  output_directory = "output/${local.name}"
  vm_name          = "${local.name}.qcow2"
  headless         = true
  memory           = 1024
  kernel           = "${var.base_dir}/vmlinuz"
  initrd           = "${var.base_dir}/initrd.img"
  kernel_args      = "root=/dev/vda rw console=ttyS0"
  ssh_username     = "root"
  ssh_timeout      = "10m"
  shutdown_command = "systemctl poweroff"
}

build {
  name    = "web"
  sources = ["source.amazon-ebs.web", "source.qemu.web"]

  provisioner "file" {
    source      = "${local.shared}/files/index.html"
    destination = "/tmp/index.html"
  }

  # The same script for both targets; on EC2 it runs through sudo, as the
  # login user there is not root.
  provisioner "shell" {
    execute_command  = "chmod +x {{ .Path }}; sudo -E env {{ .Vars }} {{ .Path }}"
    environment_vars = ["WEB_PORT=${var.port}", "WEB_VERSION=${var.version}"]
    script           = "${local.shared}/scripts/install-web.sh"
  }

  provisioner "shell" {
    only   = ["qemu.web"]
    inline = ["systemctl is-enabled web.service"]
  }

  post-processor "manifest" {
    output     = "output/manifest.json"
    strip_path = true
    custom_data = {
      version = var.version
    }
  }
}

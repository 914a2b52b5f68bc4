# Provision an existing machine over SSH with the null builder: no image is
# made, the provisioners run on the host. Point it at any SSH server, such as
# a local sshd:
#
#   kiln build -var host=127.0.0.1 -var port=2222 \
#     -var private_key_file=$HOME/.ssh/id_ed25519 \
#     -var known_hosts_file=$HOME/.ssh/known_hosts examples/null
#
# The host key is checked against known_hosts_file: kiln never connects to a
# host it cannot verify unless told so.

variable "host" {
  type    = string
  default = "127.0.0.1"
}

variable "port" {
  type    = number
  default = 22
}

variable "username" {
  type    = string
  default = env("USER")
}

variable "private_key_file" {
  type    = string
  default = "${env("HOME")}/.ssh/id_ed25519"
}

variable "known_hosts_file" {
  type    = string
  default = "${env("HOME")}/.ssh/known_hosts"
}

variable "work_dir" {
  type        = string
  description = "Directory on the host the provisioners write to."
  default     = "/tmp/kiln-null-example"
}

source "null" "host" {
  ssh_host             = var.host
  ssh_port             = var.port
  ssh_username         = var.username
  ssh_private_key_file = var.private_key_file
  ssh_known_hosts_file = var.known_hosts_file
  ssh_timeout          = "30s"
}

build {
  sources = ["source.null.host"]

  provisioner "shell" {
    inline = [
      "mkdir -p ${var.work_dir}",
      "uname -a > ${var.work_dir}/uname.txt",
    ]
  }

  provisioner "file" {
    source      = "${path.root}/files/"
    destination = "${var.work_dir}/files"
  }

  provisioner "shell" {
    environment_vars = ["WORK_DIR=${var.work_dir}"]
    inline           = ["ls -l \"$WORK_DIR/files\"", "sha256sum \"$WORK_DIR\"/files/* > \"$WORK_DIR/sums.txt\""]
  }

  provisioner "file" {
    direction   = "download"
    source      = "${var.work_dir}/sums.txt"
    destination = "${path.root}/output/sums.txt"
  }

  provisioner "shell-local" {
    inline = ["cat '${path.root}/output/sums.txt'"]
  }
}

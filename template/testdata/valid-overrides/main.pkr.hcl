source "null" "base" {
  communicator = "ssh"
  ssh_host     = "127.0.0.1"
  ssh_username = "root"
}

build {
  name = "override"

  source "source.null.base" {
    name         = "other"
    ssh_username = "admin"
  }

  source "null.base" {
  }

  provisioner "shell-local" {
    inline = ["echo default"]
    override = {
      other = {
        inline = ["echo ${source.name} is overridden"]
      }
      "null.base" = {
        inline = ["echo base"]
      }
    }
  }
}

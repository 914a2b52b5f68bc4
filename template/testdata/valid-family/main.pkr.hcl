source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  family {
    name    = "web"
    version = "minor"
    keep    = 3
    channel = "candidate"

    test {
      provisioner "shell-local" {
        inline = ["true"]
      }
    }
  }

  provisioner "shell-local" {
    inline = ["echo baked"]
  }
}

source "nul" "local" {
  communicator = "none"
}

build {
  sources = ["source.nul.local"]

  provisioner "shel-local" {
    inline = ["true"]
  }
}

variable "greeting" {
  type    = string
  default = "hello from kiln"
}

source "null" "local" {
  communicator = "none"
}

build {
  name    = "hello"
  sources = ["source.null.local"]

  provisioner "shell-local" {
    inline = ["echo ${var.greeting}"]
  }
}

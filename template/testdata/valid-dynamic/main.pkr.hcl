variable "tags" {
  default = {
    a = "1"
    b = "2"
  }
}

source "null" "x" {
  communicator = "none"

  dynamic "tag" {
    for_each = var.tags
    content {
      key   = tag.key
      value = tag.value
    }
  }
}

build {
  sources = ["source.null.x"]

  provisioner "shell-local" {
    dynamic "env" {
      for_each = ["one", "two"]
      content {
        name = env.value
      }
    }
  }
}

source "null" "a" {
  communicator = "none"
}

source "null" "b" {
  communicator = "none"
}

build {
  sources = ["source.null.a", "source.null.b"]

  post-processor "checksum" {
    checksum_types = ["sha256"]
  }

  post-processors {
    post-processor "manifest" {
      output = "m.json"
    }
    post-processor "shell-local" {
      inline = ["echo done"]
      except = ["null.b"]
    }
  }
}

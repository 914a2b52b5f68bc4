source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  provisioner "shell" {
    only   = ["null.x"]
    except = ["null.y"] # ERROR: Use only or except, not both
  }

  provisioner "shell" {
    only = ["null.[x"] # ERROR: Invalid glob pattern
  }

  provisioner "shell" {
    except = ["amazon-ebs.*"] # WARNING: matches none of the build's sources
  }

  post-processor "manifest" {
    only = "null.x" # ERROR: Unsuitable value type
  }
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  family {
    name    = "-web" # ERROR: Invalid family name
    version = "1.4" # ERROR: Invalid family version
    keep    = -1 # ERROR: needs a whole number from 0
    channel = "stable/2" # ERROR: Invalid channel
    colour  = "red" # ERROR: Unsupported argument

    test {
      provisioner "shell" {
        inline = ["true"]
      }
    }
    test { # ERROR: Duplicate test block
    }
  }

  family { # ERROR: Duplicate family block
    name = "other"
  }
}

build {
  sources = ["source.null.x"]
  family { # ERROR: Missing required argument
  }
}

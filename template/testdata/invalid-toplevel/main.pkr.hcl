sourc "null" "a" { # ERROR: Did you mean "source"?
}

region = "x" # ERROR: Unsupported argument

data "amazon-ami" "x" { # ERROR: Unknown data source type
}

source "null" { # ERROR: Missing name for source
}

variable "ok" {
  default = 1
  descripton = "typo" # ERROR: Did you mean "description"?
}

source "null" "b" {
  communicator = "none"
}

build {
  sources = ["source.null.b"]
  provisoner "shell" { # ERROR: Did you mean "provisioner"?
  }
  post-processors {
    provisioner "shell" { # ERROR: Unsupported block type
    }
  }
}

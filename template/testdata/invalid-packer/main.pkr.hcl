packer {
  required_version = ">= 2.0.0" # ERROR: Unsupported Packer version
  required_plugins {
    amazon = {
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/amazon"
    }
    azure = { # ERROR: kiln lacks the plugin github.com/hashicorp/azure
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/azure"
    }
    broken = "github.com/hashicorp/qemu" # ERROR: Invalid required_plugins entry
    badversion = { # ERROR: Invalid plugin version constraint
      source  = "github.com/hashicorp/qemu"
      version = "~> banana"
    }
  }
}

packer {
  required_version = "nonsense" # ERROR: Invalid required_version
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]
}

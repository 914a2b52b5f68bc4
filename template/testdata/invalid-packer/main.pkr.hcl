packer {
  required_version = ">= 2.0.0" # ERROR: Unsupported Packer version
  required_plugins {
    amazon = {
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/amazon"
    }
    azure = { # WARNING: No component of it is used
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/azure"
    }
    ansible = { # ERROR: The template uses provisioner "ansible-local"
      source = "github.com/hashicorp/ansible"
    }
    docker = { # ERROR: kiln lacks the plugin github.com/hashicorp/docker
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/docker"
    }
    unusedbroken = { # ERROR: Invalid required_plugins entry
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/azure"
      extra   = "x"
    }
    nohost = {
      source = "qemu" # ERROR: Invalid plugin source
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

source "docker" "d" {
  image = "debian"
}

build {
  sources = ["source.null.x"]

  provisioner "ansible-local" {
    playbook_file = "x.yml"
  }
}

packer {
  required_plugins {
    amazon = {
      source = "github.com/hashicorp/packer-plugin-amazon" # ERROR: without the packer-plugin- prefix
    }
    short = {
      source = "hashicorp/amazon" # ERROR: Invalid plugin source
    }
    unused = {
      source = "github.com/hashicorp/azure"
    }
  }
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "region" { # ERROR: Duplicate variable
  type = string
}

variable "count" {
  type    = numbr # ERROR: not a valid type
  default = 1
}

variable "names" {
  type    = list(string)
  default = "not a list" # ERROR: Invalid default value for variable "names"
}

variable { # ERROR: Missing name for variable
}

locals {
  # Not evaluated: no error for the undefined variable.
  image = "${var.nowhere}-x"
}

local "image" { # ERROR: Duplicate local
  expression = "y"
}

data "amazon-ami" "base" {
  owners = ["self"]
}

data "amazon-ami" "base" { # ERROR: Duplicate data
  owners = ["self"]
}

data "amazon-ami" { # ERROR: Missing name for data
}

source "nosuch" "x" {
  anything = true
}

source "nosuch" "x" { # ERROR: Duplicate source block
}

frobnicate { # ERROR: Unsupported block type
}

build {
  sources = ["source.nowhere.y"]
  colour  = "blue" # ERROR: Unsupported argument

  hcp_packer_registry {
    bucket = "web" # ERROR: Unsupported argument
  }
}

variable "fine" {
  default = env("HOME")
}

locals {
  home = env("HOME") # ERROR: env can only be used in the default value of a variable
}

source "null" "x" {
  communicator = "none"
}

build {
  name    = env("USER") # ERROR: env can only be used in the default value of a variable
  sources = ["source.null.x"]
}

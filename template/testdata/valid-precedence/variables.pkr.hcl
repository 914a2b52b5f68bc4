# Each variable is set up to a different level of precedence:
# default < environment < auto var file < -var-file (in order) < -var (in order).
variable "from_default" {
  default = "default"
}
variable "from_env" {
  default = "default"
}
variable "from_auto" {
  default = "default"
}
variable "from_file1" {
  default = "default"
}
variable "from_file2" {
  default = "default"
}
variable "from_flag" {
  default = "default"
}
variable "numbers" {
  type    = list(number)
  default = []
}
variable "count" {
  type    = number
  default = 0
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]
}

variable "size" {
  type    = number
  default = 1
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]
}

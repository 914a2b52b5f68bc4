variable "token" {
  type      = string
  sensitive = true
  default   = vault("/secret/data/kiln", "token") # ERROR: kiln does not support vault() yet
}

locals {
  endpoint = consul_key("kiln/endpoint") # ERROR: kiln does not support consul_key() yet
  missing  = index(["a"], "b")           # ERROR: item not found
  empty    = sum([])                     # ERROR: cannot sum an empty list
  bad_cidr = cidrsubnet("10.0.0.0/30", 4, 0) # ERROR: insufficient address space
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]
}

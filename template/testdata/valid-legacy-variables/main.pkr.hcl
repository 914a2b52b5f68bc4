variables {
  region = "us-east-1"
  sizes  = [8, 16]
}

source "null" "x" {
  communicator = "none"
}

build {
  name    = "legacy-${var.region}"
  sources = ["source.null.x"]
}

variable "bucket" {
  type    = string
  default = "web-images"
}

source "null" "x" {
  communicator = "none"
}

build {
  name = "web"

  hcp_packer_registry { # WARNING: kiln does not publish to HCP Packer
    bucket_name = var.bucket
    description = "The web image."
    bucket_labels = {
      team = "web"
    }
    build_labels = {
      "os" = "debian"
    }
  }

  sources = ["sources.null.x"]
}

source "null" "x" {
  communicator = "none"
}

build {
  hcp_packer_registry { # WARNING: kiln does not publish to HCP Packer
    bucket_name = "-web" # ERROR: Invalid bucket_name
  }
  sources = ["source.null.x"]
}

hcp_packer_registry { # ERROR: both at top level and in a build
  bucket_name = "web"
}

hcp_packer_registry { # ERROR: Duplicate hcp_packer_registry block
  bucket_name = "web-1"
}

source "null" "x" {
  communicator = "none"
}

data "hcp-packer-version" "v" { # ERROR: HCP Packer data sources are not supported
  bucket_name  = "web"
  channel_name = "prod"
}

data "hcp-packer-artifact" "a" { # ERROR: amazon-parameterstore
  bucket_name = "web"
}

build {
  hcp_packer_registry { # WARNING: kiln does not publish to HCP Packer
    bucket_name   = "a_b" # ERROR: Invalid bucket_name
    description   = "${join("", [for i in range(26) : "0123456789"])}" # ERROR: Description too long
    bucket_labels = ["a"] # ERROR: Invalid bucket_labels
    build_labels  = { os = { name = "debian" } } # ERROR: Invalid build_labels
    labels        = { a = "b" } # ERROR: Both labels and bucket_labels
    channel       = "prod" # ERROR: Unsupported argument
  }
  hcp_packer_registry { # ERROR: Duplicate hcp_packer_registry block
    bucket_name = "ab" # ERROR: Invalid bucket_name
  }
  sources = ["source.null.x"]
}

build {
  hcp_packer_registry {
    bucket_name = "abcdefghij-abcdefghij-abcdefghij-abc"
  }
  sources = ["source.null.x"]
}

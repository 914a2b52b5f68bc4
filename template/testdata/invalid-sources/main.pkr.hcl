source "null" "a" {
  communicator = "none"
}

source "null" "a" { # ERROR: Duplicate source block
  communicator = "none"
}

source "amazon-ebs" "web" {
}

build {
  sources = [
    "source.null.b", # ERROR: Reference to undefined source
    "source.amazon-ebs.wbe", # ERROR: Did you mean "source.amazon-ebs.web"?
    "nonsense", # ERROR: is not a source reference
    source.null.a,
    42, # ERROR: Invalid source reference
  ]

  source "source.qemu.a" { # ERROR: Reference to undefined source
    name = "x"
  }

  source "null.a" { # ERROR: Duplicate source in build
  }
}

build { # ERROR: Build without sources
}

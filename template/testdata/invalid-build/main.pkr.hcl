source "null" "x" {
  communicator = "none"
}

build {
  name    = "b"
  sources = ["source.null.x"]

  provisioner "shell" {
    pause_before = "soon" # ERROR: "soon" is not a duration
    timeout      = 5 # ERROR: "5" is not a duration
    max_retries  = -1 # ERROR: needs a whole number from 0
    name         = ["a"] # ERROR: Invalid value for name
  }

  provisioner "shell" {
    max_retries = "two" # ERROR: Invalid value for max_retries
    override = {
      x = "nope" # ERROR: Invalid override
      (var.nothing) = { # ERROR: Unsupported attribute
      }
    }
  }

  provisioner "shell" {
    override = var.nothing # ERROR: Unsupported attribute
  }

  error-cleanup-provisioner "shell-local" {
  }

  error-cleanup-provisioner "shell-local" { # ERROR: Duplicate error-cleanup-provisioner block
  }

  post-processor "manifest" {
    keep_input_artifact = "perhaps" # ERROR: Invalid value for keep_input_artifact
  }

  post-processor "manifest" {
    name = var.nothing # ERROR: Unsupported attribute
  }
}

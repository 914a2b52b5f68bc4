locals {
  a = local.missing # ERROR: Reference to undeclared local value
  b = local.aa # ERROR: did you mean "a"?
  c = var.nope # ERROR: Unsupported attribute
  d = source.name # ERROR: Unknown variable
}

locals {
  a = "again" # ERROR: Duplicate local value
}

local "e" { # ERROR: Missing required argument
  sensitive = true
}

local "f" {
  expression = 1
  extra      = 2 # ERROR: Unsupported argument
}

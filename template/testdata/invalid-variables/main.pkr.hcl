variable "bad_type" {
  type = lists(string) # ERROR: not a valid type
}

variable "bad_default" {
  type    = number
  default = "many" # ERROR: Invalid default value for variable "bad_default"
}

variable "required" { # ERROR: Unset variable "required"
  type = string
}

variable "not_null" { # ERROR: Null value for non-nullable variable
  type     = string
  default  = null
  nullable = false
}

variable "checked" {
  type    = string
  default = "ab"
  validation {
    condition     = length(var.checked) > 3 # ERROR: The name must be longer than three characters.
    error_message = "The name must be longer than three characters."
  }
  validation {
    condition     = var.checked != var.other # ERROR: may only refer to the variable it checks
    error_message = "Different."
  }
  validation {
    condition     = "maybe" # ERROR: The condition must be a bool
    error_message = "Not a bool."
  }
}

variable "other" {
  default = "x"
}

variable "other" { # ERROR: Duplicate variable
  default = "y"
}

variable "sensitive_flag" {
  sensitive = "yes" # ERROR: Unsuitable value type
  default   = "x"
}

variable "nested" {
  type = object({ a = string })
  default = { # ERROR: attribute "a" is required
    b = "x"
  }
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]
}

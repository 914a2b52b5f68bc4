size  = "big" # ERROR: Invalid value for variable "size"
sizee = 2 # WARNING: did you mean "size"?
block {  # ERROR: Unexpected "block" block
}
region = "eu-west-1" # WARNING: variable "region" { type = string }

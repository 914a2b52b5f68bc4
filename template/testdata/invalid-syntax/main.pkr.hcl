source "null" "x" {
  communicator = "none"
  broken = # ERROR: Invalid expression
}

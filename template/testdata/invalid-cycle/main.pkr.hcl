locals {
  a = local.b # ERROR: a -> b -> a
  b = "${local.a}-x"
  self = local.self # ERROR: self -> self
  uses_cycle = local.a
}

local "c" { # ERROR: c -> d -> e -> c
  expression = local.d
}

local "d" {
  expression = local.e
}

local "e" {
  expression = upper(local.c)
}

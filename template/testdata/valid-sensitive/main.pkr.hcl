variable "password" {
  type      = string
  sensitive = true
  default   = "hunter2-very-secret"
}

variable "creds" {
  type = object({
    user  = string
    token = string
    pin   = number
  })
  sensitive = true
  default = {
    user  = "deploy"
    token = "tok-abcdef"
    pin   = 4711
  }
}

variable "public" {
  default = "visible-value"
}

local "secret_url" {
  expression = "https://deploy:${var.password}@example.invalid"
  sensitive  = true
}

source "null" "x" {
  communicator = "none"
  password     = var.password
  port         = var.public
}

build {
  sources = ["source.null.x"]

  provisioner "shell-local" {
    port = tonumber("${var.public}-${var.password}")
    pin  = var.creds.pin
  }
}

packer {
  required_version = ">= 1.7.0"
  required_plugins {
    amazon = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

variable "region" {
  type        = string
  default     = "eu-west-1"
  description = "The AWS region to build in."
}

variable "instance_count" {
  type    = number
  default = 2
  validation {
    condition     = var.instance_count > 0
    error_message = "The count must be positive."
  }
}

variable "tags" {
  type = map(string)
  default = {
    team = "platform"
  }
}

variable "optional_note" {
  type     = string
  default  = null
  nullable = true
}

local "image_name" {
  expression = "web-${var.region}"
}

locals {
  all_tags = merge(var.tags, { Name = local.image_name })
}

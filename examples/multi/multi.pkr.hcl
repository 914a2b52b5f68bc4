# Several builds from one template, runnable anywhere: the null sources have
# no communicator, so only local provisioners and post-processors run.
#
#   kiln build examples/multi                                   # staging (the auto var file)
#   kiln build -var-file=examples/multi/production.pkrvars.hcl examples/multi
#   kiln build -only='app.*' examples/multi                     # one build block
#   kiln build -except='*.null.db' examples/multi               # all but the database
#
# Values come, in increasing precedence, from the defaults below,
# PKR_VAR_/KILN_VAR_ environment variables, multi.auto.pkrvars.hcl,
# each -var-file and each -var.

variable "environment" {
  type        = string
  description = "Environment the images are for."
  default     = "dev"
}

variable "app_replicas" {
  type    = number
  default = 1
}

variable "features" {
  type    = list(string)
  default = []
}

variable "db_password" {
  type      = string
  sensitive = true
  default   = "change-me"
}

locals {
  stamp     = formatdate("YYYYMMDDhhmmss", timestamp())
  label     = "${var.environment}-${local.stamp}"
  out_dir   = "${path.root}/output/${var.environment}"
  feature_s = join(",", var.features)
}

source "null" "app" {
  communicator = "none"
}

source "null" "db" {
  communicator = "none"
}

build {
  name        = "app"
  description = "The application image, once per replica flavour."

  source "null.app" {
    name = "small"
  }
  source "null.app" {
    name = "large"
  }

  provisioner "shell-local" {
    inline = [
      "mkdir -p '${local.out_dir}'",
      "echo \"${source.name} for ${var.environment}: ${var.app_replicas} replicas, features [${local.feature_s}]\" > '${local.out_dir}/${source.name}.txt'",
    ]
  }

  provisioner "shell-local" {
    only   = ["null.large"]
    inline = ["echo 'large flavour gets the extra tuning step'"]
  }

  post-processor "manifest" {
    output     = "${local.out_dir}/manifest.json"
    strip_path = true
    custom_data = {
      environment = var.environment
      label       = local.label
    }
  }
}

build {
  name    = "data"
  sources = ["source.null.db", "source.null.app"]

  provisioner "shell-local" {
    except           = ["null.app"]
    environment_vars = ["DB_PASSWORD=${var.db_password}", "ENVIRONMENT=${var.environment}"]
    inline           = ["test -n \"$DB_PASSWORD\" && echo \"database configured for $ENVIRONMENT\""]
  }

  provisioner "shell-local" {
    only   = ["null.app"]
    inline = ["echo 'app side of the data build'"]
  }

  post-processor "shell-local" {
    inline = ["echo 'data build ${source.name} finished (${local.label})'"]
  }
}

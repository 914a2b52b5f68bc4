# A web-server AMI on Amazon EC2, from the latest official Debian 12 image,
# copied to more regions. Values per environment live in *.pkrvars.hcl files:
#
#   kiln build -var-file=examples/aws/production.pkrvars.hcl examples/aws
#
# Credentials come from the usual AWS sources (environment, shared config,
# instance role). Every temporary resource kiln creates is tagged with the
# build's ID and removed when the build ends.

packer {
  required_plugins {
    amazon = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

variable "region" {
  type        = string
  description = "Region the image is built in."
  default     = "eu-west-1"
}

variable "ami_regions" {
  type        = list(string)
  description = "Other regions the image is copied to."
  default     = []
}

variable "instance_type" {
  type    = string
  default = "t3.micro"
}

variable "app_version" {
  type        = string
  description = "Version of the web image, recorded in its name and tags."
  default     = "0.1.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.app_version))
    error_message = "The app_version must look like 1.2.3."
  }
}

variable "team" {
  type    = string
  default = "platform"
}

locals {
  ami_name = "web-${var.app_version}-${formatdate("YYYYMMDD-hhmm", timestamp())}"
  common_tags = {
    Team      = var.team
    Version   = var.app_version
    ManagedBy = "kiln"
  }
}

# The newest official Debian 12 image in the build region, looked up when the
# build starts (kiln validate leaves it unknown unless given
# -evaluate-datasources).
data "amazon-ami" "debian" {
  region = var.region
  filters = {
    name                = "debian-12-amd64-*"
    architecture        = "x86_64"
    root-device-type    = "ebs"
    virtualization-type = "hvm"
  }
  owners      = ["136693071363"]
  most_recent = true
}

source "amazon-ebs" "web" {
  region        = var.region
  instance_type = var.instance_type
  ami_name      = local.ami_name
  ami_regions   = var.ami_regions

  ami_description = "Web server ${var.app_version} from {{ .SourceAMIName }}"

  source_ami = data.amazon-ami.debian.id

  ssh_username = "admin"

  tags = merge(local.common_tags, {
    Name          = local.ami_name
    SourceAMI     = "{{ .SourceAMI }}"
    SourceAMIName = data.amazon-ami.debian.name
    BuildRegion   = "{{ .BuildRegion }}"
  })
  snapshot_tags = local.common_tags
  run_tags = {
    Name = "kiln-build-${local.ami_name}"
  }
}

build {
  name    = "web"
  sources = ["source.amazon-ebs.web"]

  provisioner "file" {
    source      = "${path.root}/scripts/nginx-site.conf"
    destination = "/tmp/site.conf"
  }

  provisioner "shell" {
    execute_command  = "chmod +x {{ .Path }}; sudo -E {{ .Vars }} {{ .Path }}"
    environment_vars = ["APP_VERSION=${var.app_version}", "DEBIAN_FRONTEND=noninteractive"]
    script           = "${path.root}/scripts/install-nginx.sh"
  }

  post-processor "manifest" {
    output     = "manifest.json"
    strip_path = true
    custom_data = {
      version = var.app_version
      team    = var.team
    }
  }
}

source "amazon-ebs" "web" {
  region        = var.region
  ami_name      = "${local.image_name}-{{timestamp}}"
  instance_type = "t3.micro"
  tags          = local.all_tags
}

source "null" "local" {
  communicator = "none"
}

build {
  name        = "web"
  description = "The web image."
  sources     = ["source.amazon-ebs.web", source.null.local]

  provisioner "shell" {
    name         = "install"
    inline       = ["echo ${source.name} ${build.ID}"]
    pause_before = "10s"
    max_retries  = 3
    timeout      = "5m"
    only         = ["amazon-ebs.*"]
  }

  provisioner "file" {
    source      = "files/app.conf"
    destination = "/tmp/app.conf"
    except      = ["null.local"]
  }

  error-cleanup-provisioner "shell-local" {
    inline = ["echo cleanup"]
  }

  post-processor "manifest" {
    name                = "record"
    output              = "manifest.json"
    keep_input_artifact = true
    only                = ["amazon-ebs.web"]
  }
}

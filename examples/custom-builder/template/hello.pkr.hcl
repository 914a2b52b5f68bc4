# A build with the scratch builder of examples/custom-builder, a builder that
# the program brings itself: kiln alone does not know source "scratch".
#
#   go run ./examples/custom-builder examples/custom-builder/template
#
# The provisioners run on the scratch machine: their working directory is the
# machine's root, which becomes the tarball. (The template sits in a folder of
# its own because the kiln command, which has no scratch builder, validates
# every template directly under examples/.)

variable "output" {
  type        = string
  description = "Path of the tarball the build writes."
  default     = "output/hello.tar.gz"
}

variable "greeting" {
  type    = string
  default = "hello from a custom builder"
}

source "scratch" "hello" {
  output     = var.output
  source_dir = "${path.root}/files"
}

build {
  sources = ["source.scratch.hello"]

  provisioner "shell" {
    inline = [
      "mkdir -p etc",
      "echo '${var.greeting}' > etc/motd",
      "echo \"built on ${build.ID} by $PACKER_BUILDER_TYPE\" > etc/build-info",
      "cat etc/motd etc/build-info",
    ]
  }
}

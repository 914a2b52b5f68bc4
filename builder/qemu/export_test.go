package qemu

// BaseImage lets the external tests boot the base image.
var BaseImage = baseImage

// Package file is kiln's "file" provisioner: it uploads local files and
// directory trees (or literal content) to the machine being built, or
// downloads them from it, with Packer's options and its trailing-slash rule
// for directories. Uploads report their progress as event.Progress.
//
// It sits in kiln's components layer; kiln.DefaultRegistries registers New under
// the type label "file".
package file

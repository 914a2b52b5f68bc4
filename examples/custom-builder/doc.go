//go:build unix

// Command custom-builder is a program that brings its own builder to kiln.
// Its "scratch" builder is written only against kiln's public packages
// (builder, step, communicator, artifact, event), the way a builder outside
// this module would be: it decodes its own HCL body, runs its steps with the
// engine's step runner, creates temporary resources that it registers for
// undo as soon as they exist, hands a communicator to the build's
// provisioners through the hook, and returns an artifact.
//
// A scratch build makes a root directory, boots a "machine" in it (an init
// process; commands run in the root directory, in process groups the
// machine kills when it is powered off), runs the provisioners, and writes
// the root directory as a gzipped tarball:
//
//	go run ./examples/custom-builder examples/custom-builder/template
//	go run ./examples/custom-builder -var output=/tmp/hello.tar.gz -force examples/custom-builder/template
//	go run ./examples/custom-builder -validate examples/custom-builder/template
//
// The builder is registered under its own type label next to kiln's
// components, and the template uses it as source "scratch" "NAME"; the kiln
// command, which does not have it, rejects such a template. The program
// renders the build's events itself: the library never prints.
//
// The first Ctrl-C cancels the build, which still removes its scratch
// directory and machine before Build returns; a second stops that cleanup,
// and what was not removed yet is listed as left behind.
//
// scratch.go is the builder (its HCL schema, steps and artifact), machine.go
// the machine and its communicator (kiln's own local communicator is
// internal), main.go the program (registries, validation, rendering of
// events, exit codes). It sits in kiln's proof layer: runnable
// documentation of the builder contract, tested end to end.
package main

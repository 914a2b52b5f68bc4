// Package shell is kiln's "shell" provisioner: it uploads inline commands or
// local script files to the machine being built, runs them over the
// communicator with the configured environment, streams their output as
// event.Output lines and removes them afterwards. Its options are Packer's.
//
// It sits in kiln's components layer; kiln.DefaultRegistries registers New under
// the type label "shell".
package shell

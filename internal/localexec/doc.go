// Package localexec runs commands on the machine kiln runs on, for the
// shell-local provisioner and the shell-local post-processor: their shared
// configuration (Packer's shell-local options), its validation, and Run,
// which writes inline commands to a temporary script, runs each script
// through execute_command with the environment variables set, streams output
// as events and kills the whole process group when the context is cancelled.
//
// It sits in kiln's plumbing layer, under provisioner/shelllocal and
// postprocessor/shelllocal.
package localexec

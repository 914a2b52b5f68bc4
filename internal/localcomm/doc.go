// Package localcomm is a communicator.Communicator for the machine kiln runs
// on: commands run under /bin/sh -c, uploads and downloads copy local files.
// Tests of components that need a communicator use it for their logic, with a
// hook to make a command lose its "connection"; their protocol tests use a
// real sshd.
//
// It sits in kiln's plumbing layer, next to the communicator contract.
package localcomm

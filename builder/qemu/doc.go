// Package qemu is the "qemu" builder: it boots a disk image under QEMU,
// provisions it over SSH and writes the result as a qcow2 or raw image with
// its sha256 into an output directory, reading Packer's qemu options for
// disk-image builds.
//
// The guest's SSH port is forwarded from a port on 127.0.0.1 chosen at run
// time. kiln generates a login key and a host key for each build and hands
// them to the guest in a cloud-init NoCloud seed (an ISO labelled cidata,
// merged with the template's cd_files and cd_content), and the login key
// also as the systemd credential ssh.authorized_keys.root; the client then
// verifies the host key strictly. The accelerator, unless given, is KVM only
// where it really works (see detectAccelerator), TCG otherwise.
//
// A build is a list of steps (package step) whose undo kills qemu and
// removes temporary files, also when the build is interrupted; the output
// directory appears only when the build succeeds. scripts/base-image.sh
// makes a small Debian base image to build from.
//
// Each build keeps a local journal (DefaultJournalDir, one JSON file per
// build) naming its temporary directory, its staging directory and its qemu
// process (pid, start time and boot ID, so that a reused pid is never taken
// for it), each recorded before it is made and dropped once it is gone.
// Clean reads the journals of builds whose kiln process is dead and removes
// what they left. The temporary directory and what it holds are private to
// the user; the seed tree with the build's host private key is removed once
// its ISO is made, and the ISOs once qemu has opened them.
//
// It sits in kiln's components layer; the kiln package registers it under
// the type label "qemu".
package qemu

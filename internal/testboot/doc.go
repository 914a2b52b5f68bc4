// Package testboot plays the part of an EC2 instance's boot in kiln's tests
// against moto_server, which runs no machines: when a kiln instance appears
// in moto, a Player reads the user data kiln sent (its cloud-config with the
// temporary host key and login key), and starts OpenSSH sshd on a
// pre-chosen 127.0.0.1 port with those keys, so a build can provision
// "the instance" over SSH with its host key verified. The fake IPs moto
// hands out are never dialled.
//
// It is used by the amazon-ebs builder's integration tests and by the data
// source tests that build with amazon-ebs. When sshd is missing the test is
// skipped, or fails under KILN_REQUIRE_INTEGRATION=1.
package testboot

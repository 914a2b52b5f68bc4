// Package amazonebs is kiln's amazon-ebs builder: from a source AMI it boots
// a temporary EC2 instance, hands it to the provisioners over SSH with a host
// key it generated and verifies, stops it, makes an AMI of it, copies, shares
// and tags the AMI, and removes every temporary resource whatever happens.
//
// It reads Packer's amazon-ebs options unchanged (source "amazon-ebs"). Every
// temporary resource is tagged at creation (kiln:build-id, kiln:temporary,
// kiln:expires-at) and recorded in a local journal: the intent (the name or
// client token it will carry) before the create call, the ID once EC2
// answers, before it is used; its undo is registered at once. Clean removes
// what a killed process left, looking up by name, token or tag what a call
// whose answer never came made. Removal re-issues what EC2 did not do (a
// terminate overtaken by a late stop) instead of waiting for a state that
// will not come.
//
// Tests: unit tests substitute the EC2 interface; integration tests run
// against moto_server on a loopback port, with a harness that plays the
// instance's boot (it reads the user data kiln sent and starts OpenSSH sshd
// with the host key and login key found there). TestAcceptance builds a real
// AMI and runs only with KILN_ACC=1 (see acc_test.go); it is never run in CI.
//
// It sits in kiln's components layer, on aws-sdk-go-v2, internal/awsutil,
// package step and communicator/ssh. It never imports a provisioner:
// provisioning reaches it as the builder.Hook.
package amazonebs

// Package integration holds kiln's end-to-end tests: they build the kiln
// binary once, start real services on loopback (OpenSSH sshd through
// internal/testsshd) and run `kiln build`, `kiln validate` and `kiln fmt` as
// subprocesses on templates written into temporary directories, checking exit
// codes, output, JSON events and the files the builds make. They also check
// that every example in examples/ validates and is formatted.
//
// It is kiln's proof layer and imports none of kiln's packages except the
// test harnesses (testsshd): what it checks is the binary.
package integration

// Package testsshd starts a real OpenSSH sshd for tests, on a free
// 127.0.0.1 port, with its own generated host key and client key:
//
//	srv := testsshd.Start(t)
//	// srv.Host, srv.Port, srv.User, srv.ClientKeyFile, srv.HostKey
//	// or, in a template: source "null" "x" { <srv.HCL()> }
//
// Options: Delay starts sshd in the background after a while (readiness
// tests), Port picks the port, Config adds sshd_config lines. Stop kills
// sshd with every connection and command (a machine going down); Restart
// does that and starts it again with the same port and keys (a reboot).
//
// The server runs as the current user (root here), without PAM, with
// internal-sftp, and is killed when the test ends. It sets SHLVL=1 for
// sessions so that bash does not source ~/.bashrc for each command (root's
// on these machines runs pyenv, 0.2 s a command), as a cloud image's
// .bashrc returns at once for non-interactive shells. When sshd is not
// installed the test is skipped, or fails under KILN_REQUIRE_INTEGRATION=1
// (see internal/testenv).
//
// It is test plumbing: only _test.go files and benchmarks import it.
package testsshd

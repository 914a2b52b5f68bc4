//go:build !unix

package localexec

import "os/exec"

// ownProcessGroup leaves cmd as it is: without Unix process groups,
// cancellation kills the command itself.
func ownProcessGroup(*exec.Cmd) {}

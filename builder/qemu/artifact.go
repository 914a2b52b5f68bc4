package qemu

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Artifact is a built image in its output directory.
type Artifact struct {
	dir, image string
	files      []string
	accel      string
	sshReady   time.Duration // from qemu's start to the first SSH login
	fromRun    time.Duration // from the build's start to the first SSH login
}

// Destroy removes the output directory, as Packer's qemu artifact does: the
// engine calls it when no post-processor keeps the image.
func (a *Artifact) Destroy(context.Context) error {
	if err := os.RemoveAll(a.dir); err != nil {
		return fmt.Errorf("remove %s: %w", a.dir, err)
	}
	return nil
}

// BuilderType returns "qemu".
func (*Artifact) BuilderType() string { return Type }

// ID returns the image's path.
func (a *Artifact) ID() string { return a.image }

// Files returns the image, its .sha256 file and, for EFI builds, efivars.fd.
func (a *Artifact) Files() []string { return a.files }

// String names the image and says how long the guest took to be reachable,
// which the CLI shows in its summary.
func (a *Artifact) String() string {
	s := "VM image " + a.image
	if a.sshReady > 0 {
		s += fmt.Sprintf(" (SSH ready %.1fs after the build started, %.1fs after boot, %s)", a.fromRun.Seconds(), a.sshReady.Seconds(), a.accel)
	}
	return s
}

// State exposes "output_directory" (string), "accelerator" (string),
// "ssh_ready" (time.Duration: from qemu's start to the first SSH login) and
// "build_to_ssh" (time.Duration: from the build's start to that login).
func (a *Artifact) State(key string) any {
	switch key {
	case "output_directory":
		return a.dir
	case "accelerator":
		return a.accel
	case "ssh_ready":
		return a.sshReady
	case "build_to_ssh":
		return a.fromRun
	}
	return nil
}

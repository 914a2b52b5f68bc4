package qemu

import (
	"fmt"
	"time"
)

// Artifact is a built image in its output directory.
type Artifact struct {
	dir, image string
	files      []string
	accel      string
	sshReady   time.Duration
}

// BuilderType returns "qemu".
func (*Artifact) BuilderType() string { return Type }

// ID returns the image's path.
func (a *Artifact) ID() string { return a.image }

// Files returns the image, its .sha256 file and, for EFI builds, efivars.fd.
func (a *Artifact) Files() []string { return a.files }

func (a *Artifact) String() string {
	return fmt.Sprintf("VM image %s (in %s)", a.image, a.dir)
}

// State exposes "output_directory" (string), "accelerator" (string) and
// "ssh_ready" (time.Duration: from qemu's start to the first SSH login).
func (a *Artifact) State(key string) any {
	switch key {
	case "output_directory":
		return a.dir
	case "accelerator":
		return a.accel
	case "ssh_ready":
		return a.sshReady
	}
	return nil
}

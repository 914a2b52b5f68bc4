package localcomm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/kilnhq/kiln/communicator"
)

// Comm runs everything on the local machine. The zero value is ready to use.
type Comm struct {
	// Disconnect, when set, is called with each command before it runs; if
	// it returns true the command still runs, but Run reports a lost
	// connection, as a reboot would.
	Disconnect func(command string) bool

	mu   sync.Mutex
	cmds []string
}

var _ communicator.Communicator = (*Comm)(nil)

// Commands returns the commands run so far, in order.
func (c *Comm) Commands() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.cmds...)
}

// Run runs cmd.Command with /bin/sh -c.
func (c *Comm) Run(ctx context.Context, cmd *communicator.Cmd) error {
	c.mu.Lock()
	c.cmds = append(c.cmds, cmd.Command)
	c.mu.Unlock()
	x := exec.CommandContext(ctx, "/bin/sh", "-c", cmd.Command)
	x.Stdin, x.Stdout, x.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	// A killed command's children may keep its output open: stop waiting
	// for them soon after, as an SSH session would end.
	x.WaitDelay = time.Second
	err := x.Run()
	if c.Disconnect != nil && c.Disconnect(cmd.Command) {
		return fmt.Errorf("run: %w", communicator.ErrDisconnected)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &communicator.ExitError{Command: cmd.Command, Status: -1, Signal: ws.Signal().String()}
		}
		return &communicator.ExitError{Command: cmd.Command, Status: ee.ExitCode()}
	}
	return err
}

// Upload writes r to the local file dst with mode.
func (c *Comm) Upload(ctx context.Context, dst string, r io.Reader, size int64, mode fs.FileMode) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Download copies the local file src to w.
func (c *Comm) Download(ctx context.Context, src string, w io.Writer) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// DirComm is a Comm that also implements communicator.DirTransferer.
type DirComm struct {
	Comm
}

var _ communicator.DirTransferer = (*DirComm)(nil)

// UploadDir copies the tree under src into dst.
func (c *DirComm) UploadDir(ctx context.Context, dst, src string) error {
	return copyTree(dst, src)
}

// DownloadDir copies the tree under src into dst.
func (c *DirComm) DownloadDir(ctx context.Context, src, dst string) error {
	return copyTree(dst, src)
}

func copyTree(dst, src string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
}

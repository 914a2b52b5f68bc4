//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kilnhq/kiln/communicator"
)

// machine is what the scratch builder boots instead of a virtual machine: a
// root directory and an init process. It is also the machine's
// communicator: commands run with the root directory as their working
// directory, each in a process group of its own, and relative paths in
// uploads and downloads are relative to the root. Absolute paths are the
// host's, as the machine shares the host's file system.
//
// Powering the machine off kills init and every process group the machine
// started that still has a process in it, such as a daemon a provisioner
// left running.
type machine struct {
	root string
	init *exec.Cmd
	// halt is init's standard input: init runs until it is closed, by
	// powerOff or by the builder's process ending, so that a crashed
	// builder does not leave init running.
	halt     io.Closer
	initDone chan struct{}

	mu     sync.Mutex
	off    bool
	groups map[int]bool // process group IDs of the commands started
}

var _ communicator.Communicator = (*machine)(nil)

// boot starts the init process of a machine rooted at root. It takes no
// context: the machine runs until powerOff, not until the step that booted
// it ends.
func boot(root string) (*machine, error) {
	proc := exec.Command("/bin/sh", "-c", "read _")
	proc.Dir = root
	proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	halt, err := proc.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	if err := proc.Start(); err != nil {
		halt.Close()
		return nil, fmt.Errorf("boot: %w", err)
	}
	m := &machine{root: root, init: proc, halt: halt, initDone: make(chan struct{}), groups: map[int]bool{}}
	go func() {
		_ = proc.Wait()
		close(m.initDone)
	}()
	return m, nil
}

// pid returns the process ID of init.
func (m *machine) pid() int { return m.init.Process.Pid }

// id names the machine for build.ID and in events.
func (m *machine) id() string { return fmt.Sprintf("scratch-%d", m.pid()) }

// powerOff kills every process of the machine and waits for init to end.
// Calling it again does nothing.
func (m *machine) powerOff(ctx context.Context) error {
	m.mu.Lock()
	first := !m.off
	m.off = true
	groups := m.groups
	m.groups = nil
	m.mu.Unlock()
	if first {
		for pgid := range groups {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		m.halt.Close()
		_ = syscall.Kill(-m.pid(), syscall.SIGKILL)
	}
	select {
	case <-m.initDone:
		return nil
	case <-ctx.Done():
		select {
		case <-m.initDone:
			return nil // init ended meanwhile
		default:
		}
		return fmt.Errorf("power off: init (pid %d) has not exited: %w", m.pid(), context.Cause(ctx))
	}
}

// errOff is returned by the communicator once the machine is off.
var errOff = fmt.Errorf("the machine is off: %w", communicator.ErrDisconnected)

// running reports whether the machine is up.
func (m *machine) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runningLocked()
}

func (m *machine) runningLocked() bool {
	select {
	case <-m.initDone:
		return false
	default:
		return !m.off
	}
}

// Run runs cmd.Command with /bin/sh -c in the root directory. Cancelling
// ctx kills the command's process group.
func (m *machine) Run(ctx context.Context, cmd *communicator.Cmd) error {
	x := exec.Command("/bin/sh", "-c", cmd.Command)
	x.Dir = m.root
	x.Stdin, x.Stdout, x.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	x.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A process the command leaves running in the background may keep
	// its output open: stop waiting for it soon after the command ends.
	x.WaitDelay = time.Second
	if err := m.start(x); err != nil {
		return err
	}
	pgid := x.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- x.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-ctx.Done():
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-waited
		m.forget(pgid)
		return fmt.Errorf("run: %w", context.Cause(ctx))
	}
	m.forget(pgid)
	if !m.running() {
		return fmt.Errorf("run: %w", errOff)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &communicator.ExitError{Command: cmd.Command, Status: -1, Signal: strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG")}
		}
		return &communicator.ExitError{Command: cmd.Command, Status: ee.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

// start starts x and records its process group, unless the machine is off.
func (m *machine) start(x *exec.Cmd) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.runningLocked() {
		return fmt.Errorf("run: %w", errOff)
	}
	if err := x.Start(); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	m.groups[x.Process.Pid] = true
	return nil
}

// forget drops the process group pgid of a command that ended, unless a
// process it started in the background still runs in it.
func (m *machine) forget(pgid int) {
	if syscall.Kill(-pgid, 0) == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.groups, pgid) // a no-op once powerOff took the groups
}

// path resolves a path on the machine: relative to the root, or the host's
// when absolute.
func (m *machine) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(m.root, p)
}

// Upload writes r to dst with mode, creating dst's parent directories.
func (m *machine) Upload(ctx context.Context, dst string, r io.Reader, size int64, mode fs.FileMode) error {
	if !m.running() {
		return fmt.Errorf("upload %s: %w", dst, errOff)
	}
	p := m.path(dst)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("upload %s: %w", dst, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode.Perm())
	if err != nil {
		return fmt.Errorf("upload %s: %w", dst, err)
	}
	_, err = copyContext(ctx, f, r)
	if err == nil {
		// The mode is set after writing, so the umask does not matter.
		err = f.Chmod(mode.Perm())
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("upload %s: %w", dst, err)
	}
	return nil
}

// Download copies src to w.
func (m *machine) Download(ctx context.Context, src string, w io.Writer) error {
	if !m.running() {
		return fmt.Errorf("download %s: %w", src, errOff)
	}
	f, err := os.Open(m.path(src))
	if err != nil {
		return fmt.Errorf("download %s: %w", src, err)
	}
	defer f.Close()
	if _, err := copyContext(ctx, w, f); err != nil {
		return fmt.Errorf("download %s: %w", src, err)
	}
	return nil
}

// copyContext copies r to w until EOF, an error, or ctx is done.
func copyContext(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		if err := context.Cause(ctx); err != nil {
			return n, err
		}
		nr, rerr := r.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
			if nw != nr {
				return n, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

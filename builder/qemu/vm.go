package qemu

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// vm is a running qemu process, in a process group of its own so that a
// terminal's Ctrl-C reaches kiln (which shuts the guest down or kills it)
// rather than qemu directly. If kiln dies, the kernel kills qemu
// (Pdeathsig).
type vm struct {
	cmd    *exec.Cmd
	qmp    string
	output *tailBuffer
	done   chan struct{}
	err    error // qemu's exit, once done is closed
}

// startTimeout bounds qemu's own start-up, before the guest boots.
const startTimeout = time.Minute

// errAddrInUse reports that qemu could not bind a port kiln had chosen:
// another process took it after kiln released it.
var errAddrInUse = errors.New("address already in use")

// startVM starts qemu. The caller registers vm.kill as undo at once, then
// calls waitReady.
func startVM(bin string, args []string, qmpSocket string) (*vm, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("start qemu: %s not found (apt-get install qemu-system-x86)", bin)
		}
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	v := &vm{cmd: cmd, qmp: qmpSocket, output: out, done: make(chan struct{})}
	go func() {
		v.err = cmd.Wait()
		close(v.done)
	}()
	return v, nil
}

// waitReady waits until qemu's monitor answers, which it does once every
// device and port forward is set up. A qemu that exits first returns its
// error output; one that could not bind a port wraps errAddrInUse.
func (v *vm) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
		err := qmpCommand(qctx, v.qmp, "query-status")
		qcancel()
		if err == nil {
			return nil
		}
		select {
		case <-v.done:
			return v.exitError()
		case <-ctx.Done():
			return fmt.Errorf("wait for qemu to start: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// exitError describes how qemu ended, with its last output.
func (v *vm) exitError() error {
	out := strings.TrimSpace(v.output.String())
	how := "qemu exited"
	if v.err != nil {
		how += " (" + v.err.Error() + ")"
	}
	if out != "" {
		how += ": " + out
	}
	err := errors.New(how)
	if strings.Contains(out, "Could not set up host forwarding rule") || strings.Contains(out, "Address already in use") ||
		strings.Contains(out, "Failed to find an available port") {
		err = fmt.Errorf("%w: %w", errAddrInUse, err)
	}
	return err
}

// exited is closed when qemu has exited.
func (v *vm) exited() <-chan struct{} { return v.done }

// wait waits up to d for qemu to exit by itself.
func (v *vm) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-v.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// powerdownRepeat is how often the ACPI power button is pressed again: a
// press that comes before the guest's logind is listening is lost.
const powerdownRepeat = 10 * time.Second

// powerdown presses the guest's ACPI power button through QMP, again every
// powerdownRepeat, until qemu exits or d has passed. It reports whether qemu
// exited.
func (v *vm) powerdown(ctx context.Context, d time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		if err := qmpCommand(ctx, v.qmp, "system_powerdown"); err != nil {
			select {
			case <-v.done:
				return true, nil
			default:
			}
			if ctx.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("ACPI power-down: %w", err)
		}
		if v.wait(ctx, powerdownRepeat) {
			return true, nil
		}
		if ctx.Err() != nil {
			return false, nil
		}
	}
}

// kill kills qemu's process group, if qemu still runs, and waits for it.
// Killing a running guest loses what it had not written to disk: it is the
// last resort of shutdown and the undo of a failed build.
func (v *vm) kill(ctx context.Context) error {
	select {
	case <-v.done:
		return nil
	default:
	}
	if err := syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill qemu (pid %d): %w", v.cmd.Process.Pid, err)
	}
	select {
	case <-v.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for qemu (pid %d) to die: %w", v.cmd.Process.Pid, ctx.Err())
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

package ssh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/kilnhq/kiln/communicator"
)

// Timing of a cancelled command's end.
const (
	// signalGrace is how long a cancelled command gets to end after the
	// KILL signal, before it is killed from a second session.
	signalGrace = 200 * time.Millisecond
	// stopTimeout bounds the whole cancel path: signal, kill session and
	// the wait for the command's end, also on a dead connection.
	stopTimeout = 5 * time.Second
)

// Run runs cmd.Command through the remote user's shell and waits for it. A
// non-zero exit is a *communicator.ExitError; a connection lost on the way
// wraps communicator.ErrDisconnected. Errors do not quote the command, which
// may carry secrets.
//
// Cancelling ctx kills the remote command and the processes in its process
// group (see stop), then returns context.Cause(ctx) within stopTimeout.
func (c *Comm) Run(ctx context.Context, cmd *communicator.Cmd) error {
	cn, sess, err := openOn(ctx, c, c.newSession)
	if cn == nil {
		return fmt.Errorf("ssh: run: %w", err)
	}
	if err != nil {
		return c.failed(cn, "ssh: run: open session", err)
	}
	defer sess.Close()
	sess.Stdin, sess.Stdout, sess.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	if c.cfg.PTY {
		modes := gossh.TerminalModes{gossh.ECHO: 0, gossh.TTY_OP_ISPEED: 14400, gossh.TTY_OP_OSPEED: 14400}
		if err := sess.RequestPty("xterm", 40, 120, modes); err != nil {
			return c.failed(cn, "ssh: run: request a pty", err)
		}
	}
	mark := newRunMark()
	if err := sess.Start(mark.command(cmd.Command)); err != nil {
		return c.failed(cn, "ssh: run: start", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		stop(cn, sess, mark, waited)
		return fmt.Errorf("ssh: run: %w", context.Cause(ctx))
	}
	if err == nil {
		return nil
	}
	var ee *gossh.ExitError
	if errors.As(err, &ee) {
		return &communicator.ExitError{Command: cmd.Command, Status: ee.ExitStatus(), Signal: ee.Signal()}
	}
	return c.failed(cn, "ssh: run", err)
}

// stop ends a cancelled command within stopTimeout. It sends the KILL
// signal first; OpenSSH refuses signals for root logins without privilege
// separation ("session signalling requires privilege separation"), so when
// the command has not ended signalGrace later, a second session on the same
// connection kills it by its mark (see runMark.killScript). The caller closes
// sess.
func stop(cn *conn, sess *gossh.Session, mark runMark, waited <-chan error) {
	deadline := time.NewTimer(stopTimeout)
	defer deadline.Stop()
	_ = sess.Signal(gossh.SIGKILL)
	select {
	case <-waited:
		return
	case <-deadline.C:
		return
	case <-time.After(signalGrace):
	}
	if mark == "" {
		return
	}
	go killMarked(cn, mark)
	select {
	case <-waited:
	case <-deadline.C:
	}
}

// killMarked runs mark's kill script in a new session on cn, giving up
// after stopTimeout. A connection that hangs holds this goroutine until it
// is closed (by keepalives, ssh_read_write_timeout or Comm.Close).
func killMarked(cn *conn, mark runMark) {
	sess, err := cn.client.NewSession()
	if err != nil {
		return
	}
	defer sess.Close()
	t := time.AfterFunc(stopTimeout, func() { sess.Close() })
	defer t.Stop()
	_ = sess.Run(mark.killScript())
}

// runMark makes a command findable on the remote machine, so that a
// cancelled one can be killed without the signal request. The command is
// sent with a last line that is a comment naming the mark: the shell's
// arguments (/proc/PID/cmdline) then contain it, and the shell runs its last
// command as a child instead of replacing itself with it, so the shell stays
// findable for as long as the command runs. sshd makes each session's shell
// a session and process group leader, and a non-interactive shell keeps its
// children in its group, so killing that group ends the command and its
// children.
//
// The command's text, quoting, exit status and streams are unchanged,
// except that a last command killed by a signal is reported the way the
// shell reports a child killed by it (status 128+n) rather than as the
// session's signal. A command that ends in a backslash gets no mark (the
// comment would join its last line); a cancelled one then depends on the
// signal alone.
type runMark string

func newRunMark() runMark {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return runMark("kiln-run-" + hex.EncodeToString(b[:]))
}

// command returns command with the mark as its last line.
func (m runMark) command(command string) string {
	trailing := len(command) - len(strings.TrimRight(command, `\`))
	if trailing%2 == 1 {
		return command
	}
	return command + "\n# " + string(m)
}

// killScript returns a command that kills the process group of every
// process whose arguments contain the mark (or the process alone, when it
// does not lead its group). It runs in /bin/sh whatever the login shell, and
// needs only grep and /proc (no procps). The pattern given to grep is a
// regular expression that matches the mark but does not contain it, so
// neither grep nor the script finds itself.
func (m runMark) killScript() string {
	hexPart := strings.TrimPrefix(string(m), "kiln-run-")
	pattern := "kiln-run-[" + hexPart[:1] + "]" + hexPart[1:]
	script := `for f in $(grep -ls "` + pattern + `" /proc/[0-9]*/cmdline); do ` +
		`p=${f#/proc/}; p=${p%/cmdline}; [ "$p" = "$$" ] && continue; ` +
		`read -r s < "/proc/$p/stat" || continue; set -- ${s##*)}; ` +
		`[ "$3" = "$p" ] && kill -s KILL -- "-$p"; kill -s KILL "$p"; ` +
		`done 2>/dev/null; exit 0`
	return "exec /bin/sh -c '" + script + "'"
}

// openOn returns the live connection and what open made on it. A
// connection found lost at this point (the machine went away between two
// calls, before the loss was noticed) is replaced once: nothing ran on it
// yet. A nil connection means there was none to be had.
func openOn[T any](ctx context.Context, c *Comm, open func(*conn) (T, error)) (*conn, T, error) {
	for retried := false; ; retried = true {
		cn, err := c.conn(ctx)
		if err != nil {
			var zero T
			return nil, zero, err
		}
		v, err := open(cn)
		if err == nil || retried || !connectionLost(cn, err) {
			return cn, v, err
		}
		cn.close()
	}
}

// newSession opens a session, forwarding the local agent when there is one
// and ssh_disable_agent_forwarding is not set.
func (c *Comm) newSession(cn *conn) (*gossh.Session, error) {
	sess, err := cn.client.NewSession()
	if err != nil {
		return nil, err
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" && !c.cfg.DisableAgentForwarding {
		cn.forwardAgent.Do(func() { cn.agentErr = agent.ForwardToRemote(cn.client, sock) })
		if cn.agentErr == nil {
			// A server that refuses forwarding still runs the command.
			_ = agent.RequestAgentForwarding(sess)
		}
	}
	return sess, nil
}

// failed wraps err with what was being done. When the connection is gone,
// the error wraps communicator.ErrDisconnected and the connection is
// dropped, so the next call reconnects.
func (c *Comm) failed(cn *conn, doing string, err error) error {
	if connectionLost(cn, err) {
		cn.close()
		return fmt.Errorf("%s: %w: %w", doing, communicator.ErrDisconnected, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// connectionLost reports whether err means the connection went away.
func connectionLost(cn *conn, err error) bool {
	var missing *gossh.ExitMissingError
	var opErr *net.OpError
	switch {
	case errors.As(err, &missing), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &opErr):
		return true
	}
	if cn.lost() {
		return true
	}
	// The connection's reader notices a dead peer a moment after the
	// channels fail; give it that moment.
	select {
	case <-cn.done:
		return true
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

// ClearAuthorizedKeys empties the login user's ~/.ssh/authorized_keys (and
// root's, through passwordless sudo when the user is not root), so the image
// does not carry the build's temporary key: ssh_clear_authorized_keys. The
// current connection stays open.
func (c *Comm) ClearAuthorizedKeys(ctx context.Context) error {
	const script = `rm -f "$HOME/.ssh/authorized_keys" && ` +
		`if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo -n rm -f /root/.ssh/authorized_keys 2>/dev/null || true; fi`
	var stderr strings.Builder
	if err := c.Run(ctx, &communicator.Cmd{Command: script, Stderr: &stderr}); err != nil {
		return fmt.Errorf("clear authorized keys: %w (%s)", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

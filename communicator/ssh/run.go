package ssh

import (
	"context"
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

// killGrace is how long a cancelled command gets to report its end after
// it was signalled, before its session is closed regardless.
const killGrace = time.Second

// Run runs cmd.Command through the remote user's shell and waits for it. A
// non-zero exit is a *communicator.ExitError; a connection lost on the way
// wraps communicator.ErrDisconnected. Cancelling ctx kills the remote
// command (SIGKILL, then the session is closed).
func (c *Comm) Run(ctx context.Context, cmd *communicator.Cmd) error {
	cn, sess, err := openOn(ctx, c, c.newSession)
	if cn == nil {
		return fmt.Errorf("run %q: %w", cmd.Command, err)
	}
	if err != nil {
		return c.failed(cn, fmt.Sprintf("run %q: open session", cmd.Command), err)
	}
	defer sess.Close()
	sess.Stdin, sess.Stdout, sess.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	if c.cfg.PTY {
		modes := gossh.TerminalModes{gossh.ECHO: 0, gossh.TTY_OP_ISPEED: 14400, gossh.TTY_OP_OSPEED: 14400}
		if err := sess.RequestPty("xterm", 40, 120, modes); err != nil {
			return c.failed(cn, fmt.Sprintf("run %q: request a pty", cmd.Command), err)
		}
	}
	if err := sess.Start(cmd.Command); err != nil {
		return c.failed(cn, fmt.Sprintf("run %q: start", cmd.Command), err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		_ = sess.Signal(gossh.SIGKILL)
		select {
		case <-waited:
		case <-time.After(killGrace):
		}
		sess.Close()
		return fmt.Errorf("run %q: %w", cmd.Command, context.Cause(ctx))
	}
	if err == nil {
		return nil
	}
	var ee *gossh.ExitError
	if errors.As(err, &ee) {
		return &communicator.ExitError{Command: cmd.Command, Status: ee.ExitStatus(), Signal: ee.Signal()}
	}
	return c.failed(cn, fmt.Sprintf("run %q", cmd.Command), err)
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

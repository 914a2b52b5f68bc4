package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/clock"
)

// ConnectOptions carries what a builder knows about the machine it made.
// Every field is optional; the Config's own settings win where both say.
type ConnectOptions struct {
	// Host and Port are used when ssh_host and ssh_port are not set.
	Host string
	Port int
	// Username is used when ssh_username is not set.
	Username string
	// Signer is a login key the builder generated and installed; it is
	// offered before ssh_private_key_file's key.
	Signer gossh.Signer
	// HostKey is the host key the builder installed on the machine. When
	// set, the server must present exactly this key.
	HostKey gossh.PublicKey
	// Events receives connection messages and transfer progress. Nil
	// discards them.
	Events event.Sink
}

// Timing of connection attempts.
const (
	// bannerTimeout bounds the wait for the first byte from the server on
	// a fresh TCP connection: NAT port forwards (QEMU user networking)
	// accept connections long before anything listens behind them.
	bannerTimeout = 2 * time.Second
	// handshakeTimeout bounds the rest of a handshake once the server has
	// started talking (a busy guest can be slow).
	handshakeTimeout = 30 * time.Second
	// dialTimeout bounds one TCP connect.
	dialTimeout   = 5 * time.Second
	retryMin      = 50 * time.Millisecond
	retryMax      = time.Second
	retrySlowdown = 60 // the retry interval is the time waited so far / retrySlowdown: 50 ms for 3 s, 1 s after 60 s
	maxInFlight   = 40 // silent attempts waiting at once: enough for one every 50 ms to wait out bannerTimeout
)

// The communicator contract and its optional abilities.
var (
	_ communicator.Communicator     = (*Comm)(nil)
	_ communicator.DirTransferer    = (*Comm)(nil)
	_ communicator.Closer           = (*Comm)(nil)
	_ communicator.ProgressReporter = (*Comm)(nil)
)

// Comm is a Communicator over one SSH connection, shared by every command and
// transfer of a build. A lost connection is re-established by the next call.
// It implements communicator.Communicator, communicator.DirTransferer and
// communicator.Closer.
type Comm struct {
	cfg    Config
	host   string
	port   int
	addr   string
	events event.Sink
	// reportsProgress is set when the caller gave a sink.
	reportsProgress bool

	target       *credentials
	hostKeys     *hostKeyPolicy
	targetConfig *gossh.ClientConfig
	bastion      *bastionDialer // nil without a bastion

	// sem guards cur and closed; it is a channel so waiting respects ctx.
	sem    chan struct{}
	cur    *conn
	closed bool
	// closing is closed by Close, to stop a connection loop in progress.
	closing     chan struct{}
	closingOnce sync.Once
}

// Connect waits until the machine completes an SSH handshake and accepts a
// login, then returns a Comm holding that connection. It retries every 50 ms
// at first, slowing to once a second, until ssh_timeout or ctx ends. It fails
// at once when the host key does not match, and after ssh_handshake_attempts
// refused logins, with an error that says what was offered.
func Connect(ctx context.Context, cfg *Config, opts ConnectOptions) (_ *Comm, err error) {
	if !cfg.Enabled() {
		return nil, errors.New(`ssh: communicator = "none": nothing to connect to`)
	}
	if diags := cfg.Validate(nil); diags.HasErrors() {
		return nil, fmt.Errorf("ssh: invalid config: %s", diags.Error())
	}
	c := &Comm{cfg: *cfg, events: opts.Events, reportsProgress: opts.Events != nil, sem: make(chan struct{}, 1), closing: make(chan struct{})}
	if c.events == nil {
		c.events = event.Discard
	}
	c.host = firstNonEmpty(cfg.Host, opts.Host)
	if c.host == "" {
		return nil, errors.New("ssh: no host to connect to: set ssh_host")
	}
	c.port = cfg.Port
	if c.port == 0 {
		c.port = opts.Port
	}
	if c.port == 0 {
		c.port = DefaultPort
	}
	c.addr = net.JoinHostPort(c.host, strconv.Itoa(c.port))
	user := firstNonEmpty(cfg.Username, opts.Username)
	if user == "" {
		return nil, errors.New("ssh: no user to log in as: set ssh_username")
	}
	c.hostKeys, err = newHostKeyPolicy(cfg, opts.HostKey, c.addr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.bastion.close()
			c.target.close()
		}
	}()
	c.target, err = loadCredentials(credentialSource{
		user: user, password: cfg.Password, keyFile: cfg.PrivateKeyFile, certFile: cfg.CertificateFile,
		useAgent: cfg.AgentAuth, builderKey: opts.Signer,
	})
	if err != nil {
		return nil, err
	}
	c.targetConfig = c.target.clientConfig(cfg, c.hostKeys)
	if cfg.BastionHost != "" {
		c.bastion, err = newBastionDialer(cfg, user, c.events)
		if err != nil {
			return nil, err
		}
	}
	if c.hostKeys.insecure {
		c.warn(fmt.Sprintf("ssh_host_key_check = false: the host key of %s will not be verified; anyone on the path can impersonate the machine", c.addr))
	}
	if cfg.PauseBeforeConnecting > 0 {
		if err := clock.Sleep(ctx, cfg.PauseBeforeConnecting); err != nil {
			return nil, fmt.Errorf("ssh: pause before connecting: %w", err)
		}
	}
	if err := c.lock(ctx); err != nil {
		return nil, err
	}
	defer c.unlock()
	if _, err := c.connectLocked(ctx, "connected"); err != nil {
		return nil, err
	}
	return c, nil
}

// Host returns the host the Comm connects to (for a builder's hook data).
func (c *Comm) Host() string { return c.host }

// BuildData returns what templates see of the connection as build.* (and
// legacy strings as {{ .NAME }}): ConnType "ssh", Host, Port, User and
// Password. On a nil Comm (communicator = "none") it returns ConnType "none"
// alone. Builders add what they know of the machine to the map.
func (c *Comm) BuildData() map[string]string {
	if c == nil {
		return map[string]string{"ConnType": "none"}
	}
	return map[string]string{
		"ConnType": "ssh",
		"Host":     c.host,
		"Port":     strconv.Itoa(c.port),
		"User":     c.target.user,
		"Password": c.cfg.Password,
	}
}

// Port returns the port the Comm connects to.
func (c *Comm) Port() int { return c.port }

// User returns the user the Comm logs in as.
func (c *Comm) User() string { return c.target.user }

// Reconnect drops the current connection and waits for a new one, with the
// same retries as Connect. A provisioner that expects the machine to go away
// (a reboot) calls it; any other call after a lost connection reconnects by
// itself.
func (c *Comm) Reconnect(ctx context.Context) error {
	if err := c.lock(ctx); err != nil {
		return err
	}
	defer c.unlock()
	if c.closed {
		return errClosed
	}
	if c.cur != nil {
		c.cur.close()
		c.cur = nil
	}
	_, err := c.connectLocked(ctx, "reconnected")
	return err
}

// Close closes the connection, also while a reconnection is under way.
// Calls after Close fail.
func (c *Comm) Close() error {
	c.closingOnce.Do(func() { close(c.closing) })
	c.sem <- struct{}{}
	defer c.unlock()
	c.closed = true
	if c.cur != nil {
		c.cur.close()
		c.cur = nil
	}
	c.bastion.close()
	c.target.close()
	return nil
}

func (c *Comm) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

var errClosed = errors.New("ssh: communicator is closed")

func (c *Comm) lock(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Comm) unlock() { <-c.sem }

// conn returns the live connection, reconnecting when it was lost.
func (c *Comm) conn(ctx context.Context) (*conn, error) {
	if err := c.lock(ctx); err != nil {
		return nil, err
	}
	defer c.unlock()
	if c.closed {
		return nil, errClosed
	}
	if c.cur != nil && !c.cur.lost() {
		return c.cur, nil
	}
	return c.connectLocked(ctx, "reconnected")
}

// connectLocked dials until a login succeeds; c.sem is held.
//
// A new attempt starts every retry interval (50 ms at first, slowing to
// 1 s) even while earlier ones still wait for a banner, up to maxInFlight at
// once: behind a NAT port forward a connection accepted before the machine
// is up never gets an answer, and only a fresh one will. Once a server has
// started a handshake no new attempt starts until it ends, so a slow server
// is not flooded. The first login wins and the others are abandoned.
func (c *Comm) connectLocked(ctx context.Context, verb string) (*conn, error) {
	timeout := c.cfg.timeout()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	go func() {
		select {
		case <-c.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	type result struct {
		cn  *conn
		err error
		n   int
	}
	results := make(chan result)
	start := time.Now()
	next := time.NewTimer(0)
	defer next.Stop()
	attempts, inFlight, refused := 0, 0, 0
	// talking counts attempts whose server has started the handshake:
	// while one has, the server is up and new attempts would only load it.
	var talking atomic.Int32
	var lastErr error
	for {
		select {
		case <-next.C:
			if inFlight == 0 || (inFlight < maxInFlight && talking.Load() == 0) {
				attempts++
				inFlight++
				go func(n int) {
					var talked atomic.Bool
					cn, err := c.dialOnce(ctx, func() {
						talked.Store(true)
						talking.Add(1)
					})
					if talked.Load() {
						talking.Add(-1)
					}
					select {
					case results <- result{cn, err, n}:
					case <-ctx.Done():
						if cn != nil {
							cn.close()
						}
					}
				}(attempts)
			}
			next.Reset(min(max(time.Since(start)/retrySlowdown, retryMin), retryMax))
		case r := <-results:
			inFlight--
			if r.err == nil {
				c.cur = r.cn
				verified := "verified against " + c.hostKeys.source
				if c.hostKeys.insecure {
					verified = "NOT verified (ssh_host_key_check = false)"
				}
				c.events.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("%s to %s@%s in %s (attempt %d), host key %s %s",
					verb, c.target.user, c.addr, time.Since(start).Round(time.Millisecond), r.n, r.cn.hostKey, verified)})
				return r.cn, nil
			}
			var hke *HostKeyError
			var ae *AuthError
			switch {
			case errors.As(r.err, &hke):
				return nil, r.err
			case errors.As(r.err, &ae):
				refused++
				if refused >= c.cfg.handshakeAttempts() {
					return nil, fmt.Errorf("%w (refused %d times)", r.err, refused)
				}
			case isConfigMismatch(r.err):
				return nil, fmt.Errorf("ssh: connect to %s: %w", c.addr, r.err)
			}
			if lastErr == nil || (ctx.Err() == nil && time.Now().Before(deadline)) {
				// An attempt cut short by the deadline says less than
				// the one before it. (A dial's own timer can end it at
				// the deadline a moment before ctx says so.)
				lastErr = r.err
			}
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = errors.New("no attempt finished")
			}
			if parent.Err() == nil && !c.isClosing() {
				return nil, fmt.Errorf("ssh: %s@%s did not accept SSH within ssh_timeout (%s, %d attempts); last error: %w",
					c.target.user, c.addr, timeout, attempts, lastErr)
			}
			if c.isClosing() {
				return nil, errClosed
			}
			return nil, fmt.Errorf("ssh: connect to %s: %w (last error: %v)", c.addr, context.Cause(parent), lastErr)
		}
	}
}

// isConfigMismatch reports handshake errors that retrying cannot fix.
func isConfigMismatch(err error) bool {
	return strings.Contains(err.Error(), "no common algorithm")
}

// dialOnce makes one connection attempt: TCP (through the bastion when there
// is one), SSH handshake, login.
// onTalk is called when the server sends its first byte.
func (c *Comm) dialOnce(ctx context.Context, onTalk func()) (*conn, error) {
	var raw net.Conn
	var err error
	var via *gossh.Client
	if c.bastion != nil {
		via, err = c.bastion.client(ctx)
		if err != nil {
			return nil, err
		}
		raw, err = via.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return nil, fmt.Errorf("ssh: dial %s through bastion %s: %w", c.addr, c.bastion.addr, err)
		}
	} else {
		d := net.Dialer{Timeout: dialTimeout}
		raw, err = d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return nil, fmt.Errorf("ssh: dial %s: %w", c.addr, err)
		}
	}
	var presented string
	cc := *c.targetConfig
	check := cc.HostKeyCallback
	cc.HostKeyCallback = func(h string, r net.Addr, k gossh.PublicKey) error {
		presented = gossh.FingerprintSHA256(k)
		return check(h, r, k)
	}
	client, wc, err := handshake(ctx, raw, c.addr, &cc, onTalk)
	if err != nil {
		var hke *HostKeyError
		if !errors.As(err, &hke) && isAuthFailure(err) {
			return nil, c.target.authError(c.addr, err)
		}
		return nil, err
	}
	return newConn(client, wc, presented, &c.cfg), nil
}

func isAuthFailure(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unable to authenticate") || strings.Contains(s, "no supported methods remain")
}

// handshake runs the SSH handshake on raw. The server must start talking
// within bannerTimeout and finish within handshakeTimeout; ctx cancels it.
// onTalk, when not nil, is called once the server has started talking.
func handshake(ctx context.Context, raw net.Conn, addr string, cc *gossh.ClientConfig, onTalk func()) (*gossh.Client, *watchedConn, error) {
	wc := &watchedConn{Conn: raw}
	var silent atomic.Bool
	timer := time.AfterFunc(bannerTimeout, func() {
		silent.Store(true)
		raw.Close()
	})
	wc.onFirstRead = func() {
		if timer.Stop() {
			timer.Reset(handshakeTimeout)
		}
		if onTalk != nil {
			onTalk()
		}
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	sc, chans, reqs, err := gossh.NewClientConn(wc, addr, cc)
	timer.Stop()
	stop()
	if err != nil {
		raw.Close()
		switch {
		case ctx.Err() != nil:
			return nil, nil, fmt.Errorf("ssh: handshake with %s: %w", addr, context.Cause(ctx))
		case silent.Load() && !wc.talked():
			return nil, nil, fmt.Errorf("ssh: %s accepted the connection but sent no SSH banner within %s", addr, bannerTimeout)
		case silent.Load():
			return nil, nil, fmt.Errorf("ssh: handshake with %s did not finish within %s", addr, handshakeTimeout)
		}
		return nil, nil, err
	}
	return gossh.NewClient(sc, chans, reqs), wc, nil
}

// watchedConn notes when data arrives, for the handshake's banner deadline
// and ssh_read_write_timeout.
type watchedConn struct {
	net.Conn
	onFirstRead func()
	lastRead    atomic.Int64 // unix nanoseconds; 0 before the first byte
}

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if n > 0 {
		if w.lastRead.Swap(time.Now().UnixNano()) == 0 && w.onFirstRead != nil {
			w.onFirstRead()
		}
	}
	return n, err
}

func (w *watchedConn) talked() bool { return w.lastRead.Load() != 0 }

// conn is one established connection and the goroutines that watch it.
type conn struct {
	client  *gossh.Client
	hostKey string
	done    chan struct{} // closed when the connection is gone
	once    sync.Once

	forwardAgent sync.Once
	agentErr     error
}

func newConn(client *gossh.Client, wc *watchedConn, hostKey string, cfg *Config) *conn {
	cn := &conn{client: client, hostKey: hostKey, done: make(chan struct{})}
	go func() {
		_ = client.Wait()
		cn.close()
	}()
	if iv := cfg.keepAlive(); iv > 0 {
		go cn.keepAlive(iv)
	}
	if rw := cfg.ReadWriteTimeout; rw > 0 {
		go cn.watchdog(wc, rw)
	}
	return cn
}

func (cn *conn) close() {
	cn.once.Do(func() {
		close(cn.done)
		cn.client.Close()
	})
}

func (cn *conn) lost() bool {
	select {
	case <-cn.done:
		return true
	default:
		return false
	}
}

// keepAlive sends a keepalive request every interval and drops the
// connection when three intervals pass without an answer.
func (cn *conn) keepAlive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-cn.done:
			return
		case <-t.C:
		}
		answered := make(chan error, 1)
		go func() {
			_, _, err := cn.client.SendRequest("keepalive@openssh.com", true, nil)
			answered <- err
		}()
		select {
		case err := <-answered:
			if err != nil {
				cn.close()
				return
			}
		case <-time.After(3 * interval):
			cn.close()
			return
		case <-cn.done:
			return
		}
	}
}

// watchdog drops the connection when nothing arrives for rw.
func (cn *conn) watchdog(wc *watchedConn, rw time.Duration) {
	t := time.NewTicker(max(rw/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-cn.done:
			return
		case <-t.C:
			if time.Since(time.Unix(0, wc.lastRead.Load())) > rw {
				cn.close()
				return
			}
		}
	}
}

func (c *Comm) warn(text string) {
	c.events.Emit(&event.Message{Level: event.Warn, Text: text})
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

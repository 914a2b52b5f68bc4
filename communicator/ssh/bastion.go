package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	gossh "golang.org/x/crypto/ssh"

	"github.com/kilnhq/kiln/event"
)

// bastionDialer holds the connection to the jump host, made once and reused
// across attempts to reach the target.
type bastionDialer struct {
	addr   string
	cc     *gossh.ClientConfig
	creds  *credentials
	events event.Sink

	mu  sync.Mutex // connection attempts run in parallel
	cur *conn
}

func newBastionDialer(cfg *Config, targetUser string, events event.Sink) (*bastionDialer, error) {
	port := cfg.BastionPort
	if port == 0 {
		port = DefaultPort
	}
	b := &bastionDialer{addr: net.JoinHostPort(cfg.BastionHost, strconv.Itoa(port)), events: events}
	creds, err := loadCredentials(credentialSource{
		user:     firstNonEmpty(cfg.BastionUsername, targetUser),
		password: cfg.BastionPassword, keyFile: cfg.BastionPrivateKeyFile, useAgent: cfg.BastionAgentAuth,
	})
	if err != nil {
		return nil, fmt.Errorf("bastion: %w", err)
	}
	b.creds = creds
	// The bastion is a long-lived host: its key is checked against
	// ssh_known_hosts_file when one is given. Otherwise it is accepted and
	// its fingerprint reported, as Packer does.
	hk := &hostKeyPolicy{check: gossh.InsecureIgnoreHostKey(), source: "nothing", insecure: true}
	if cfg.KnownHostsFile != "" {
		hk, err = knownHostsPolicy(cfg.KnownHostsFile, b.addr)
		if err != nil {
			return nil, fmt.Errorf("bastion: %w", err)
		}
	}
	b.cc = creds.clientConfig(cfg, hk)
	if hk.insecure {
		b.cc.HostKeyCallback = func(_ string, _ net.Addr, k gossh.PublicKey) error {
			events.Emit(&event.Message{Level: event.Warn, Text: fmt.Sprintf(
				"bastion %s presented host key %s; not verified (set ssh_known_hosts_file to verify it)", b.addr, gossh.FingerprintSHA256(k))})
			return nil
		}
	}
	return b, nil
}

// client returns a live connection to the bastion, dialling it if needed.
func (b *bastionDialer) client(ctx context.Context) (*gossh.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil && !b.cur.lost() {
		return b.cur.client, nil
	}
	d := net.Dialer{Timeout: dialTimeout}
	raw, err := d.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		return nil, fmt.Errorf("ssh: dial bastion %s: %w", b.addr, err)
	}
	client, _, err := handshake(ctx, raw, b.addr, b.cc, nil)
	if err != nil {
		var hke *HostKeyError
		if !errors.As(err, &hke) && isAuthFailure(err) {
			return nil, fmt.Errorf("bastion: %w", b.creds.authError(b.addr, err))
		}
		return nil, fmt.Errorf("bastion: %w", err)
	}
	b.cur = &conn{client: client, done: make(chan struct{})}
	go func(cn *conn) {
		_ = client.Wait()
		cn.close()
	}(b.cur)
	return client, nil
}

func (b *bastionDialer) close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil {
		b.cur.close()
	}
	b.creds.close()
}

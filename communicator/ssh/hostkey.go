package ssh

import (
	"errors"
	"fmt"
	"net"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError reports a server whose host key is not the one expected, or
// one a known_hosts file marks @revoked. The connection is refused at once;
// it is never retried.
type HostKeyError struct {
	// Addr is the host:port that was dialled.
	Addr string
	// Source names where the expected keys came from ("the builder",
	// "ssh_host_public_key", "known_hosts file /path").
	Source string
	// Want holds the SHA256 fingerprints of the expected keys; it is empty
	// when a known_hosts file has no entry for the host.
	Want []string
	// Got is the SHA256 fingerprint of the key the server presented.
	Got string
	// Revoked, when set, is the known_hosts file and line ("path:3") whose
	// @revoked marker names the presented key.
	Revoked string
}

func (e *HostKeyError) Error() string {
	if e.Revoked != "" {
		return fmt.Sprintf("ssh: host key %s presented by %s is revoked (@revoked at %s); refusing to connect", e.Got, e.Addr, e.Revoked)
	}
	if len(e.Want) == 0 {
		return fmt.Sprintf("ssh: host key %s presented by %s is unknown: %s has no entry for this host; refusing to connect", e.Got, e.Addr, e.Source)
	}
	return fmt.Sprintf("ssh: host key mismatch for %s: server presented %s, expected %s (from %s); refusing to connect",
		e.Addr, e.Got, strings.Join(e.Want, " or "), e.Source)
}

// hostKeyPolicy decides whether a server's host key is accepted.
type hostKeyPolicy struct {
	check gossh.HostKeyCallback
	// algorithms restricts the host key algorithms negotiated to those of
	// the expected keys, so a server holding several keys presents the one
	// we can verify. Empty means x/crypto's default.
	algorithms []string
	// source names the policy in messages.
	source string
	// insecure is set when any key is accepted.
	insecure bool
}

// parseHostPublicKey parses one line in authorized_keys format.
func parseHostPublicKey(s string) (gossh.PublicKey, error) {
	k, _, _, _, err := gossh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("ssh_host_public_key is not an authorized_keys line such as \"ssh-ed25519 AAAA...\": %v", err)
	}
	return k, nil
}

// newHostKeyPolicy chooses the policy: the builder's key, else
// ssh_host_public_key, else ssh_known_hosts_file, else none (only when
// ssh_host_key_check = false).
func newHostKeyPolicy(cfg *Config, builderKey gossh.PublicKey, addr string) (*hostKeyPolicy, error) {
	switch {
	case builderKey != nil:
		return fixedKeyPolicy(builderKey, "the builder"), nil
	case cfg.HostPublicKey != "":
		k, err := parseHostPublicKey(cfg.HostPublicKey)
		if err != nil {
			return nil, err
		}
		return fixedKeyPolicy(k, "ssh_host_public_key"), nil
	case cfg.KnownHostsFile != "":
		return knownHostsPolicy(cfg.KnownHostsFile, addr)
	case cfg.HostKeyCheck != nil && !*cfg.HostKeyCheck:
		return &hostKeyPolicy{check: gossh.InsecureIgnoreHostKey(), source: "nothing (ssh_host_key_check = false)", insecure: true}, nil
	}
	return nil, errors.New("ssh: no host key to verify the server against: set ssh_host_public_key or ssh_known_hosts_file, " +
		"or ssh_host_key_check = false to accept any key (insecure)")
}

func fixedKeyPolicy(want gossh.PublicKey, source string) *hostKeyPolicy {
	wantFP := gossh.FingerprintSHA256(want)
	return &hostKeyPolicy{
		source:     source,
		algorithms: algorithmsFor(want),
		check: func(_ string, remote net.Addr, got gossh.PublicKey) error {
			if gotFP := gossh.FingerprintSHA256(got); gotFP != wantFP {
				return &HostKeyError{Addr: remote.String(), Source: source, Want: []string{wantFP}, Got: gotFP}
			}
			return nil
		},
	}
}

func knownHostsPolicy(file, addr string) (*hostKeyPolicy, error) {
	cb, err := knownhosts.New(file)
	if err != nil {
		return nil, fmt.Errorf("ssh: read ssh_known_hosts_file: %w", err)
	}
	source := "known_hosts file " + file
	p := &hostKeyPolicy{source: source}
	// Asking with a key that matches nothing lists the keys the file holds
	// for addr, whose algorithms are the ones to negotiate.
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{}, probeKey{}); errors.As(err, &ke) {
		for _, k := range ke.Want {
			p.algorithms = append(p.algorithms, algorithmsFor(k.Key)...)
		}
	}
	p.check = func(hostname string, remote net.Addr, got gossh.PublicKey) error {
		err := cb(hostname, remote, got)
		var re *knownhosts.RevokedError
		if errors.As(err, &re) {
			return &HostKeyError{Addr: hostname, Source: source, Got: gossh.FingerprintSHA256(got),
				Revoked: fmt.Sprintf("%s:%d", re.Revoked.Filename, re.Revoked.Line)}
		}
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			he := &HostKeyError{Addr: hostname, Source: source, Got: gossh.FingerprintSHA256(got)}
			for _, k := range ke.Want {
				he.Want = append(he.Want, gossh.FingerprintSHA256(k.Key))
			}
			return he
		}
		return err
	}
	return p, nil
}

// algorithmsFor returns the host key algorithms that verify with k.
func algorithmsFor(k gossh.PublicKey) []string {
	if k.Type() == gossh.KeyAlgoRSA {
		return []string{gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA}
	}
	return []string{k.Type()}
}

// probeKey is a public key that no known_hosts line matches.
type probeKey struct{}

func (probeKey) Type() string                          { return "kiln-probe" }
func (probeKey) Marshal() []byte                       { return []byte("kiln-probe") }
func (probeKey) Verify([]byte, *gossh.Signature) error { return errors.New("probe key") }

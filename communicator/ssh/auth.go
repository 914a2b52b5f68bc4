package ssh

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// credentials are the ways one login (target or bastion) can authenticate,
// described for error messages.
type credentials struct {
	user    string
	signers []gossh.Signer
	// keyNotes describes each signer ("ED25519 SHA256:... (builder key)").
	keyNotes  []string
	agent     agent.ExtendedAgent
	agentConn net.Conn
	password  string

	mu      sync.Mutex
	allowed []string // methods the server last said it accepts
}

// credentialSource is one login's configuration.
type credentialSource struct {
	user, password, keyFile, certFile string
	useAgent                          bool
	builderKey                        gossh.Signer
}

func loadCredentials(src credentialSource) (*credentials, error) {
	cr := &credentials{user: src.user, password: src.password}
	if src.builderKey != nil {
		cr.addSigner(src.builderKey, "builder key")
	}
	if src.keyFile != "" {
		s, err := readSigner(src.keyFile, src.certFile)
		if err != nil {
			return nil, err
		}
		cr.addSigner(s, src.keyFile)
	}
	if src.useAgent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, fmt.Errorf("ssh: agent authentication asked for, but SSH_AUTH_SOCK is not set")
		}
		c, err := net.Dial("unix", sock)
		if err != nil {
			return nil, fmt.Errorf("ssh: connect to agent at SSH_AUTH_SOCK: %w", err)
		}
		cr.agent, cr.agentConn = agent.NewClient(c), c
	}
	if len(cr.signers) == 0 && cr.agent == nil && cr.password == "" {
		cr.close()
		return nil, fmt.Errorf("ssh: no way to log in as %q: set ssh_private_key_file, ssh_password or ssh_agent_auth", src.user)
	}
	return cr, nil
}

// close releases the connection to the agent, if any.
func (cr *credentials) close() {
	if cr != nil && cr.agentConn != nil {
		cr.agentConn.Close()
	}
}

func readSigner(keyFile, certFile string) (gossh.Signer, error) {
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("ssh: read private key: %w", err)
	}
	s, err := gossh.ParsePrivateKey(pem)
	if _, ok := err.(*gossh.PassphraseMissingError); ok {
		return nil, fmt.Errorf("ssh: private key %s is protected by a passphrase; load it into an agent and set ssh_agent_auth = true", keyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh: parse private key %s: %w", keyFile, err)
	}
	if certFile == "" {
		return s, nil
	}
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("ssh: read certificate: %w", err)
	}
	pub, _, _, _, err := gossh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, fmt.Errorf("ssh: parse certificate %s: %w", certFile, err)
	}
	cert, ok := pub.(*gossh.Certificate)
	if !ok {
		return nil, fmt.Errorf("ssh: %s holds a plain public key, not a certificate", certFile)
	}
	cs, err := gossh.NewCertSigner(cert, s)
	if err != nil {
		return nil, fmt.Errorf("ssh: certificate %s: %w", certFile, err)
	}
	return cs, nil
}

func (cr *credentials) addSigner(s gossh.Signer, from string) {
	cr.signers = append(cr.signers, s)
	cr.keyNotes = append(cr.keyNotes, fmt.Sprintf("%s %s (%s)", s.PublicKey().Type(), gossh.FingerprintSHA256(s.PublicKey()), from))
}

// methods returns the auth methods in the order they are tried: keys, then
// password (also answering keyboard-interactive prompts).
func (cr *credentials) methods() []gossh.AuthMethod {
	var ms []gossh.AuthMethod
	if len(cr.signers) > 0 || cr.agent != nil {
		ms = append(ms, gossh.PublicKeysCallback(func() ([]gossh.Signer, error) {
			all := cr.signers
			if cr.agent != nil {
				as, err := cr.agent.Signers()
				if err != nil {
					return nil, fmt.Errorf("ssh: list agent keys: %w", err)
				}
				all = append(all[:len(all):len(all)], as...)
			}
			return all, nil
		}))
	}
	if cr.password != "" {
		ms = append(ms, gossh.Password(cr.password),
			gossh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = cr.password
				}
				return answers, nil
			}))
	}
	return ms
}

// clientConfig returns an x/crypto client config for these credentials.
func (cr *credentials) clientConfig(cfg *Config, hk *hostKeyPolicy) *gossh.ClientConfig {
	cc := &gossh.ClientConfig{
		User:              cr.user,
		Auth:              cr.methods(),
		HostKeyCallback:   hk.check,
		HostKeyAlgorithms: hk.algorithms,
		// Record what the server accepts, for the error message when
		// nothing we offer is enough; then let x/crypto pick the method.
		AuthCallback: func(ac *gossh.ClientAuthContext) (gossh.AuthMethod, error) {
			cr.mu.Lock()
			cr.allowed = ac.AllowedMethods
			cr.mu.Unlock()
			return nil, nil
		},
	}
	cc.Ciphers = cfg.Ciphers
	cc.KeyExchanges = cfg.KeyExchangeAlgorithms
	return cc
}

// AuthError reports that the server refused every credential offered.
type AuthError struct {
	Addr string
	User string
	// Offered describes what was tried: each key's type and fingerprint,
	// "agent keys", "password".
	Offered []string
	// Accepted lists the methods the server said it accepts.
	Accepted []string
	Err      error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("ssh: %s refused login as %q: offered %s; server accepts %s",
		e.Addr, e.User, strings.Join(e.Offered, ", "), orNone(e.Accepted))
}

func (e *AuthError) Unwrap() error { return e.Err }

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

func (cr *credentials) authError(addr string, err error) *AuthError {
	offered := append([]string{}, cr.keyNotes...)
	if cr.agent != nil {
		if keys, err := cr.agent.List(); err == nil && len(keys) > 0 {
			for _, k := range keys {
				offered = append(offered, fmt.Sprintf("%s %s (agent: %s)", k.Type(), gossh.FingerprintSHA256(k), k.Comment))
			}
		} else {
			offered = append(offered, "agent (no keys)")
		}
	}
	if cr.password != "" {
		offered = append(offered, "password")
	}
	cr.mu.Lock()
	accepted := cr.allowed
	cr.mu.Unlock()
	return &AuthError{Addr: addr, User: cr.user, Offered: offered, Accepted: accepted, Err: err}
}

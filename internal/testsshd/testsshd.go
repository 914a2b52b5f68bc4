package testsshd

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/kilnhq/kiln/internal/testenv"
)

// readyTimeout bounds the wait for sshd to listen once started.
const readyTimeout = 15 * time.Second

// Server is a running (or, with Delay, soon running) sshd.
type Server struct {
	// Host is "127.0.0.1"; Port is the port sshd listens on; Addr is both.
	Host string
	Port int
	Addr string
	// User is the current user, whom the client key logs in as.
	User string
	// HostKey is sshd's public host key as an authorized_keys line
	// ("ssh-ed25519 AAAA..."), for ssh_host_public_key.
	HostKey string
	// HostPublicKey is the same key parsed.
	HostPublicKey gossh.PublicKey
	// KnownHostsFile holds one line for [Host]:Port with HostKey, for
	// ssh_known_hosts_file or OpenSSH's UserKnownHostsFile.
	KnownHostsFile string
	// ClientKeyFile is the client's private key (OpenSSH format, mode
	// 0600), for ssh_private_key_file or ssh -i; ClientSigner is the same key.
	ClientKeyFile string
	ClientSigner  gossh.Signer
	// Dir holds the configuration, keys and authorized_keys.
	Dir string

	sshd      string
	ready     chan struct{}
	readyOnce sync.Once

	mu      sync.Mutex
	cmd     *exec.Cmd
	log     strings.Builder
	readyAt time.Time
	stopped bool
}

type options struct {
	delay time.Duration
	port  int
	extra []string
}

// Option changes how Start runs sshd.
type Option func(*options)

// Delay makes Start return at once and start sshd after d, in the
// background; Ready says when it listens. For readiness tests and benchmarks.
func Delay(d time.Duration) Option { return func(o *options) { o.delay = d } }

// Port makes sshd listen on port instead of a free one.
func Port(port int) Option { return func(o *options) { o.port = port } }

// Config adds sshd_config lines ("PasswordAuthentication yes"); they take
// precedence over testsshd's own.
func Config(lines ...string) Option { return func(o *options) { o.extra = append(o.extra, lines...) } }

// Start starts sshd and waits until it listens (unless Delay is given). It
// is stopped in t.Cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	sshd := testenv.Tool(t, "sshd", "/usr/sbin", "/usr/local/sbin")
	if os.Geteuid() == 0 {
		// sshd running as root insists on its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("testsshd: create /run/sshd: %v", err)
		}
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("testsshd: current user: %v", err)
	}
	port := o.port
	if port == 0 {
		port = testenv.FreePort(t)
	}
	s := &Server{
		Host: "127.0.0.1", Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		User: u.Username, Dir: t.TempDir(), sshd: sshd, ready: make(chan struct{}),
	}
	if err := s.writeFiles(o.extra); err != nil {
		t.Fatalf("testsshd: %v", err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("testsshd: sshd log:\n%s", s.Log())
		}
	})
	if o.delay > 0 {
		go func() {
			time.Sleep(o.delay)
			if err := s.run(); err != nil {
				s.mu.Lock()
				fmt.Fprintf(&s.log, "testsshd: start failed: %v\n", err)
				s.mu.Unlock()
			}
		}()
		return s
	}
	if err := s.run(); err != nil {
		t.Fatalf("testsshd: %v\nsshd log:\n%s", err, s.Log())
	}
	return s
}

// Ready is closed once sshd first listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// ReadyAt returns when sshd reported that it listens (zero before).
func (s *Server) ReadyAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readyAt
}

// Log returns what sshd wrote so far (it runs with -e).
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// HCL returns communicator attributes for a source block that logs in to
// this server with the client key and verifies its host key.
func (s *Server) HCL() string {
	return fmt.Sprintf("ssh_host = %q\nssh_port = %d\nssh_username = %q\nssh_private_key_file = %q\nssh_host_public_key = %q\n",
		s.Host, s.Port, s.User, s.ClientKeyFile, s.HostKey)
}

// Stop kills sshd and every connection it serves. Later connections are
// refused. Stop is safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.kill()
}

// Restart kills sshd and every connection, as a reboot would, and starts
// it again on the same port with the same keys. It returns once sshd
// listens again; ReadyAt then says when.
func (s *Server) Restart() error {
	s.kill()
	return s.run()
}

// kill kills the running sshd, if any, with its connections and commands.
func (s *Server) kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		// sshd puts each connection in a session of its own: find them
		// (and the commands they run) before the listener dies and they
		// are orphaned.
		pids := append(descendants(cmd.Process.Pid), cmd.Process.Pid)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = cmd.Wait()
	}
}

// descendants returns the processes below pid, read from /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func (s *Server) writeFiles(extra []string) error {
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	hostKeyFile := filepath.Join(s.Dir, "ssh_host_ed25519_key")
	if err := writeKey(hostKeyFile, hostPriv); err != nil {
		return err
	}
	hostSigner, err := gossh.NewSignerFromKey(hostPriv)
	if err != nil {
		return err
	}
	s.HostPublicKey = hostSigner.PublicKey()
	s.HostKey = strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.HostPublicKey)))
	s.KnownHostsFile = filepath.Join(s.Dir, "known_hosts")
	if err := os.WriteFile(s.KnownHostsFile, fmt.Appendf(nil, "[%s]:%d %s\n", s.Host, s.Port, s.HostKey), 0o644); err != nil {
		return err
	}

	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	s.ClientKeyFile = filepath.Join(s.Dir, "id_ed25519")
	if err := writeKey(s.ClientKeyFile, clientPriv); err != nil {
		return err
	}
	if s.ClientSigner, err = gossh.NewSignerFromKey(clientPriv); err != nil {
		return err
	}
	authorized := filepath.Join(s.Dir, "authorized_keys")
	if err := os.WriteFile(authorized, gossh.MarshalAuthorizedKey(s.ClientSigner.PublicKey()), 0o600); err != nil {
		return err
	}

	// sshd takes the first value of a keyword: extra lines go first so
	// that they override the defaults below.
	conf := append(extra[:len(extra):len(extra)],
		fmt.Sprintf("ListenAddress %s:%d", s.Host, s.Port),
		"HostKey "+hostKeyFile,
		"AuthorizedKeysFile "+authorized,
		"PidFile none",
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"Subsystem sftp internal-sftp",
		"MaxSessions 64",
		"MaxStartups 64",
		"AcceptEnv *",
		// bash sources ~/.bashrc for commands sshd runs unless it thinks
		// it is nested; root's .bashrc on these machines runs `pyenv
		// init` (about 0.2 s), where a cloud image's returns at once for
		// non-interactive shells.
		"SetEnv SHLVL=1",
		"LogLevel VERBOSE",
	)
	return os.WriteFile(filepath.Join(s.Dir, "sshd_config"), []byte(strings.Join(conf, "\n")+"\n"), 0o644)
}

func writeKey(path string, key ed25519.PrivateKey) error {
	block, err := gossh.MarshalPrivateKey(key, "kiln-test")
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

// run starts sshd and waits until it logs that it listens.
func (s *Server) run() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return fmt.Errorf("stopped before it started")
	}
	cmd := exec.Command(s.sshd, "-D", "-e", "-f", filepath.Join(s.Dir, "sshd_config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	listening := make(chan struct{})
	cmd.Stderr = &logWriter{s: s, listening: listening}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("start %s: %w", s.sshd, err)
	}
	s.cmd = cmd
	s.mu.Unlock()

	select {
	case <-listening:
		return nil
	case <-time.After(readyTimeout):
		return fmt.Errorf("sshd did not listen on %s within %s", s.Addr, readyTimeout)
	}
}

// logWriter keeps sshd's log and closes listening (and s.ready) at the
// "Server listening" line.
type logWriter struct {
	s         *Server
	listening chan struct{}
	partial   []byte
	seen      bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		w.s.mu.Lock()
		w.s.log.WriteString(line + "\n")
		if !w.seen && strings.Contains(line, "Server listening on") {
			w.seen = true
			w.s.readyAt = time.Now()
			w.s.readyOnce.Do(func() { close(w.s.ready) })
			close(w.listening)
		}
		w.s.mu.Unlock()
	}
}

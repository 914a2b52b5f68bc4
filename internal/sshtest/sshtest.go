package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
)

// User is the user name the server accepts.
const User = "kiln"

// Options makes the server misbehave. The zero value is a well-behaved server.
type Options struct {
	// WrongHostKey makes the server present a key other than Server.HostKey.
	WrongHostKey bool
	// RejectAuth refuses every login.
	RejectAuth bool
	// Password, when set, is accepted besides the client key.
	Password string
	// Silent accepts TCP connections and never says a word.
	Silent bool
	// ReadyAfter keeps connections accepted during the first ReadyAfter
	// silent (like Silent); later ones are served.
	ReadyAfter time.Duration
	// DropAfter cuts the first connection whose SFTP sessions receive
	// this many bytes (0: never); later connections are left alone.
	DropAfter int64
	// UserCA, when set, makes the server accept certificates it signed
	// for principal User, besides the client key.
	UserCA gossh.PublicKey
}

// Server is a running in-process SSH server.
type Server struct {
	Addr string
	Host string
	Port int
	// HostKey is the key the server should present (the one a builder
	// would hand over); HostKeyLine is it in authorized_keys format.
	HostKey     gossh.PublicKey
	HostKeyLine string
	// ClientSigner is the key the server accepts for User; ClientKeyFile
	// holds it in OpenSSH format (mode 0600).
	ClientSigner  gossh.Signer
	ClientKeyFile string

	opts    Options
	ln      net.Listener
	config  *gossh.ServerConfig
	started time.Time

	dropped    atomic.Bool   // DropAfter has cut a connection
	frozen     chan struct{} // closed by Freeze
	freezeOnce sync.Once
	closed     chan struct{} // closed by Close

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted int
	logins   int
	wg       sync.WaitGroup
}

// Start starts a server on 127.0.0.1:0, stopped in t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, conns: map[net.Conn]struct{}{}, started: time.Now(), frozen: make(chan struct{}), closed: make(chan struct{})}
	hostSigner := newSigner(t)
	s.HostKey = hostSigner.PublicKey()
	s.HostKeyLine = strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.HostKey)))
	presented := hostSigner
	if opts.WrongHostKey {
		presented = newSigner(t)
	}
	clientPriv := newKey(t)
	var err error
	if s.ClientSigner, err = gossh.NewSignerFromKey(clientPriv); err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(clientPriv, "sshtest")
	if err != nil {
		t.Fatal(err)
	}
	s.ClientKeyFile = filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(s.ClientKeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}

	s.config = &gossh.ServerConfig{
		PublicKeyCallback: func(md gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
			if _, isCert := key.(*gossh.Certificate); isCert && opts.UserCA != nil && !opts.RejectAuth {
				checker := &gossh.CertChecker{IsUserAuthority: func(ca gossh.PublicKey) bool {
					return string(ca.Marshal()) == string(opts.UserCA.Marshal())
				}}
				return checker.Authenticate(md, key)
			}
			if opts.RejectAuth || md.User() != User || string(key.Marshal()) != string(s.ClientSigner.PublicKey().Marshal()) {
				return nil, errors.New("key refused")
			}
			return nil, nil
		},
	}
	if opts.Password != "" {
		s.config.PasswordCallback = func(md gossh.ConnMetadata, pw []byte) (*gossh.Permissions, error) {
			if opts.RejectAuth || md.User() != User || string(pw) != opts.Password {
				return nil, errors.New("password refused")
			}
			return nil, nil
		}
	}
	s.config.AddHostKey(presented)

	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshtest: listen: %v", err)
	}
	s.Addr = s.ln.Addr().String()
	s.Host = "127.0.0.1"
	s.Port = s.ln.Addr().(*net.TCPAddr).Port
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newSigner(t testing.TB) gossh.Signer {
	s, err := gossh.NewSignerFromKey(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Close stops the server and cuts every connection.
func (s *Server) Close() {
	select {
	case <-s.closed:
		return
	default:
		close(s.closed)
	}
	s.ln.Close()
	s.Drop()
	s.wg.Wait()
}

// Freeze makes the server go silent on every connection, open or new,
// without closing any: like a machine that vanished without a reset. Only
// keepalives or a read timeout can notice.
func (s *Server) Freeze() { s.freezeOnce.Do(func() { close(s.frozen) }) }

// Drop cuts every open connection at once, as a crash or reboot would.
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// ReadyAt returns when the server starts answering: its start plus
// Options.ReadyAfter.
func (s *Server) ReadyAt() time.Time { return s.started.Add(s.opts.ReadyAfter) }

// Accepted returns how many TCP connections the server accepted so far:
// one per connection attempt a client made.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Logins returns how many logins succeeded so far.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.accepted++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			if s.opts.Silent || time.Since(s.started) < s.opts.ReadyAfter {
				// Hold the connection open without a word until the
				// client gives up.
				_, _ = io.Copy(io.Discard, c)
				return
			}
			s.handle(&freezableConn{Conn: c, s: s})
		}()
	}
}

func (s *Server) handle(c net.Conn) {
	sc, chans, reqs, err := gossh.NewServerConn(c, s.config)
	if err != nil {
		return
	}
	defer sc.Close()
	s.mu.Lock()
	s.logins++
	s.mu.Unlock()
	go gossh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	var sftpBytes atomic.Int64
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(gossh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(c, ch, creqs, &sftpBytes)
		}()
	}
}

// session serves one session channel: exec or the sftp subsystem.
func (s *Server) session(c net.Conn, ch gossh.Channel, reqs <-chan *gossh.Request, sftpBytes *atomic.Int64) {
	defer ch.Close()
	var proc *exec.Cmd
	done := make(chan struct{})
	for req := range reqs {
		switch req.Type {
		case "pty-req", "env":
			_ = req.Reply(true, nil)
		case "exec":
			if proc != nil {
				_ = req.Reply(false, nil)
				continue
			}
			command := parseString(req.Payload)
			proc = exec.Command("/bin/sh", "-c", command)
			if home, err := os.UserHomeDir(); err == nil {
				proc.Dir = home
			}
			proc.Stdout, proc.Stderr = ch, ch.Stderr()
			proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			// Copy stdin ourselves: exec.Cmd.Wait would wait for a
			// copy from the channel, which ends only when the client
			// closes its side.
			stdin, err := proc.StdinPipe()
			if err != nil {
				_ = req.Reply(false, nil)
				return
			}
			if err := proc.Start(); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			go func() {
				_, _ = io.Copy(stdin, ch)
				stdin.Close()
			}()
			_ = req.Reply(true, nil)
			go func() {
				defer close(done)
				err := proc.Wait()
				sendExit(ch, proc, err)
				ch.Close()
			}()
		case "subsystem":
			if parseString(req.Payload) != "sftp" {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			rw := &countingChannel{Channel: ch, n: sftpBytes, limit: s.opts.DropAfter, conn: c, dropped: &s.dropped}
			// Like sshd, start in the home directory ($HOME of the
			// test process).
			var opts []sftp.ServerOption
			if home, err := os.UserHomeDir(); err == nil {
				opts = append(opts, sftp.WithServerWorkingDirectory(home))
			}
			srv, err := sftp.NewServer(rw, opts...)
			if err != nil {
				return
			}
			go func() {
				_ = srv.Serve()
				srv.Close()
				ch.Close()
			}()
		case "signal":
			if proc != nil && proc.Process != nil {
				if sig, ok := signals[parseString(req.Payload)]; ok {
					_ = syscall.Kill(-proc.Process.Pid, sig)
				}
			}
			_ = req.Reply(true, nil)
		default:
			_ = req.Reply(false, nil)
		}
	}
	// The channel is gone: like a pty hang-up, end what still runs.
	if proc != nil && proc.Process != nil {
		_ = syscall.Kill(-proc.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

var signals = map[string]syscall.Signal{"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP}

// sendExit reports how the command ended, as sshd does.
func sendExit(ch gossh.Channel, proc *exec.Cmd, err error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			name := strings.TrimPrefix(ws.Signal().String(), "signal ")
			for n, sig := range signals {
				if sig == ws.Signal() {
					name = n
				}
			}
			_, _ = ch.SendRequest("exit-signal", false, gossh.Marshal(struct {
				Signal     string
				CoreDumped bool
				Msg, Lang  string
			}{Signal: name}))
			return
		}
	}
	status := uint32(0)
	if proc.ProcessState != nil {
		status = uint32(proc.ProcessState.ExitCode())
	}
	_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
}

// parseString reads an SSH string from the start of a request payload.
func parseString(p []byte) string {
	if len(p) < 4 {
		return ""
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(len(p)-4) {
		return ""
	}
	return string(p[4 : 4+n])
}

// countingChannel counts what an SFTP session receives and cuts the whole
// connection past the limit, once per server.
type countingChannel struct {
	gossh.Channel
	n       *atomic.Int64
	limit   int64
	conn    net.Conn
	dropped *atomic.Bool
}

func (c *countingChannel) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	if c.limit > 0 && c.n.Add(int64(n)) > c.limit && c.dropped.CompareAndSwap(false, true) {
		c.conn.Close()
		return 0, io.ErrUnexpectedEOF
	}
	return n, err
}

// freezableConn stops all traffic once the server is frozen, until Close.
type freezableConn struct {
	net.Conn
	s *Server
}

func (c *freezableConn) hold() error {
	select {
	case <-c.s.frozen:
		<-c.s.closed
		return net.ErrClosed
	default:
		return nil
	}
}

func (c *freezableConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if herr := c.hold(); herr != nil {
		return 0, herr
	}
	return n, err
}

func (c *freezableConn) Write(p []byte) (int, error) {
	if err := c.hold(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

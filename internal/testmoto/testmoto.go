// Package testmoto starts moto_server, the EC2 emulator, for kiln's tests: on
// a free 127.0.0.1 port, owned by the test that started it, with an aws.Config
// that points at it with dummy credentials, and a Proxy to put between a
// client and it (to hold answers, or to see which calls a client makes).
// When moto_server is missing the test is skipped, or fails under
// KILN_REQUIRE_INTEGRATION=1.
package testmoto

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/kilnhq/kiln/internal/testenv"
)

// Dummy credentials moto accepts.
const (
	AccessKey = "testing"
	SecretKey = "testing"
)

// Server is a running moto_server.
type Server struct {
	// Endpoint is the server's base URL, "http://127.0.0.1:PORT".
	Endpoint string
	Port     int
	log      *bytes.Buffer
}

// Start starts moto_server on a free loopback port and waits until it
// answers. It is stopped when t ends; its log is printed if t failed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testenv.Tool(t, "moto_server")
	// The SDK must never ask the instance metadata service for anything.
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var lastErr error
	for range 3 { // the free port may be taken between choosing and binding
		port := testenv.FreePort(t)
		s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), Port: port, log: &bytes.Buffer{}}
		cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		cmd.Stdout, cmd.Stderr = s.log, s.log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start moto_server: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if lastErr = s.waitReady(exited); lastErr == nil {
			t.Cleanup(func() {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
				if t.Failed() {
					t.Logf("moto_server log (successful requests omitted):\n%s", s.errorLog())
				}
			})
			return s
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	t.Fatalf("moto_server did not start: %v", lastErr)
	return nil
}

func (s *Server) waitReady(exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited (%v): %s", err, s.log.String())
		default:
		}
		resp, err := http.Get(s.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s within 30s", s.Endpoint)
}

// errorLog returns the server's log without the lines of requests that
// succeeded.
func (s *Server) errorLog() string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s.log.String(), "\n") {
		if !strings.Contains(line, `HTTP/1.1" 200 -`) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// Reset clears every resource moto holds.
func (s *Server) Reset(t testing.TB) {
	t.Helper()
	resp, err := http.Post(s.Endpoint+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("reset moto: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reset moto: %s", resp.Status)
	}
}

// Config returns an aws.Config for region that talks to the server with
// dummy static credentials and a few fast retries.
func (s *Server) Config(region string) aws.Config {
	return aws.Config{
		Region:           region,
		BaseEndpoint:     aws.String(s.Endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		RetryMaxAttempts: 3,
	}
}

// Env returns the environment a child process needs to reach the server
// through the SDK's default chain: dummy credentials, no instance metadata.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=" + s.Endpoint,
	}
}

// Setenv points this test's SDK default chain at the server: the variables
// of Env, and shared config and credentials files under dir that the test
// writes or leaves absent, so that nothing of the machine's own AWS
// configuration is read. It uses t.Setenv, so the test must not be
// parallel.
func (s *Server) Setenv(t testing.TB, dir string) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
}

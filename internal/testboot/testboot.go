package testboot

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/internal/testenv"
	"github.com/kilnhq/kiln/internal/testmoto"
)

// Player plays the part of an instance's boot against moto: when a
// kiln instance appears, it reads the user data kiln sent, and starts
// OpenSSH sshd on a pre-chosen loopback port with the host key and the
// authorized key found there. The fake IPs moto hands out are never used.
type Player struct {
	t      testing.TB
	ec2    *ec2.Client
	port   int
	sshd   string
	mu     sync.Mutex
	booted map[string]*exec.Cmd
	// reaped holds the instances whose sshd was stopped when they were
	// terminated.
	reaped map[string]bool
	logs   bytes.Buffer
	// rawUserData records the user data of each instance booted.
	rawUserData map[string]string
}

// UserData returns the user data instance id was launched with, once the
// player booted it.
func (p *Player) UserData(id string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.rawUserData[id]
	return s, ok
}

// Booted returns how many instances the player has booted.
func (p *Player) Booted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.booted)
}

// Start starts a player that watches region of moto for running kiln
// instances and boots each on 127.0.0.1:port. It stops, with every sshd it
// started, when t ends; the sshd logs are printed if t failed.
func Start(t testing.TB, moto *testmoto.Server, region string, port int) *Player {
	t.Helper()
	p := &Player{
		t: t, ec2: ec2.NewFromConfig(moto.Config(region)), port: port,
		sshd:   testenv.Tool(t, "sshd", "/usr/sbin", "/usr/local/sbin"),
		booted: map[string]*exec.Cmd{}, reaped: map[string]bool{}, rawUserData: map[string]string{},
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("create /run/sshd: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			p.poll(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		p.mu.Lock()
		defer p.mu.Unlock()
		for id, cmd := range p.booted {
			if p.reaped[id] {
				continue
			}
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("sshd logs:\n%s", p.logs.String())
		}
	})
	return p
}

func (p *Player) poll(ctx context.Context) {
	p.reap(ctx)
	out, err := p.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + awsutil.TagTemporary), Values: []string{"true"}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
	}})
	if err != nil {
		return
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			id := aws.ToString(in.InstanceId)
			p.mu.Lock()
			_, seen := p.booted[id]
			p.mu.Unlock()
			if !seen {
				p.boot(ctx, id)
			}
		}
	}
}

// reap stops the sshd of every booted instance that was terminated, as its
// machine would, so that the port is free for the next instance (such as a
// family build's test instance).
func (p *Player) reap(ctx context.Context) {
	out, err := p.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("instance-state-name"), Values: []string{"shutting-down", "terminated"}},
	}})
	if err != nil {
		return
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			id := aws.ToString(in.InstanceId)
			p.mu.Lock()
			cmd := p.booted[id]
			reap := cmd != nil && !p.reaped[id]
			p.reaped[id] = p.reaped[id] || reap
			p.mu.Unlock()
			if reap {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				cmd.Wait()
			}
		}
	}
}

func (p *Player) boot(ctx context.Context, id string) {
	attr, err := p.ec2.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{
		InstanceId: aws.String(id), Attribute: types.InstanceAttributeNameUserData,
	})
	if err != nil || attr.UserData == nil {
		return
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(attr.UserData.Value))
	if err != nil {
		p.t.Errorf("instance %s: user data is not base64: %v", id, err)
		return
	}
	hostKey, _, authorized, err := ParseUserData(raw)
	if err != nil {
		p.t.Errorf("instance %s: %v\n%s", id, err, raw)
		return
	}
	if authorized == "" {
		// No login key in the user data (ssh_keypair_name): cloud-init
		// installs the key pair's public key from the instance metadata.
		if authorized, err = p.keyPairKey(ctx, id); err != nil {
			p.t.Errorf("instance %s: %v", id, err)
			return
		}
	}
	dir := p.t.TempDir()
	u, _ := user.Current()
	files := map[string]string{
		"host_key":        hostKey,
		"authorized_keys": authorized + "\n",
		"sshd_config": strings.Join([]string{
			fmt.Sprintf("ListenAddress 127.0.0.1:%d", p.port),
			"HostKey " + filepath.Join(dir, "host_key"),
			"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
			"PidFile none", "UsePAM no", "StrictModes no", "PermitRootLogin yes",
			"PasswordAuthentication no", "KbdInteractiveAuthentication no",
			"Subsystem sftp internal-sftp", "AllowUsers " + u.Username,
		}, "\n") + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			p.t.Errorf("write %s: %v", name, err)
			return
		}
	}
	cmd := exec.Command(p.sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.logs}
	if err := cmd.Start(); err != nil {
		p.t.Errorf("start sshd: %v", err)
		return
	}
	p.mu.Lock()
	p.booted[id] = cmd
	p.rawUserData[id] = string(raw)
	p.mu.Unlock()
}

// keyPairKey returns the public key of the key pair an instance was
// launched with, as the instance metadata serves it.
func (p *Player) keyPairKey(ctx context.Context, id string) (string, error) {
	out, err := p.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return "", err
	}
	var in *types.Instance
	if len(out.Reservations) > 0 && len(out.Reservations[0].Instances) > 0 {
		in = &out.Reservations[0].Instances[0]
	}
	if in == nil || in.KeyName == nil {
		return "", fmt.Errorf("no login key: neither in the user data nor a key pair")
	}
	kp, err := p.ec2.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{*in.KeyName}, IncludePublicKey: aws.Bool(true)})
	if err != nil || len(kp.KeyPairs) == 0 {
		return "", fmt.Errorf("key pair %s: %v", *in.KeyName, err)
	}
	return strings.TrimSpace(aws.ToString(kp.KeyPairs[0].PublicKey)), nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// ParseUserData finds kiln's cloud-config in user data (alone or a part
// of a MIME multipart message) and returns the host private key, the host
// public key and the authorized login key.
func ParseUserData(raw []byte) (hostKey, hostPub, authorized string, err error) {
	cfg := raw
	if bytes.HasPrefix(raw, []byte("Content-Type:")) {
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			return "", "", "", fmt.Errorf("user data: %w", err)
		}
		_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			return "", "", "", fmt.Errorf("user data: %w", err)
		}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		cfg = nil
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", "", "", fmt.Errorf("user data: %w", err)
			}
			b, _ := io.ReadAll(part)
			if part.FileName() == "kiln-ssh.cfg" {
				cfg = b
			}
		}
		if cfg == nil {
			return "", "", "", fmt.Errorf("user data: no kiln-ssh.cfg part")
		}
	}
	if !bytes.HasPrefix(cfg, []byte("#cloud-config\n")) {
		return "", "", "", fmt.Errorf("kiln's part is not a cloud-config")
	}
	var key strings.Builder
	inKey, inAuth := false, false
	for _, line := range strings.Split(string(cfg), "\n") {
		switch {
		case line == "  ed25519_private: |":
			inKey = true
		case inKey && strings.HasPrefix(line, "    "):
			key.WriteString(strings.TrimPrefix(line, "    ") + "\n")
		case strings.HasPrefix(line, "  ed25519_public: "):
			inKey = false
			hostPub = strings.TrimPrefix(line, "  ed25519_public: ")
		case line == "ssh_authorized_keys:":
			inKey, inAuth = false, true
		case inAuth && strings.HasPrefix(line, "  - "):
			authorized = strings.TrimPrefix(line, "  - ")
		default:
			inKey = false
		}
	}
	if key.Len() == 0 || hostPub == "" {
		return "", "", "", fmt.Errorf("cloud-config lacks ssh_keys")
	}
	return key.String(), hostPub, authorized, nil
}

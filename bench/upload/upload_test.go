package upload

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/internal/sshtest"
	"github.com/kilnhq/kiln/internal/testenv"
	"github.com/kilnhq/kiln/internal/testsshd"
)

// fileSize is the size uploaded; KILN_BENCH_UPLOAD_MIB overrides it.
func fileSize(b *testing.B) int64 {
	mib := int64(512)
	if s := os.Getenv("KILN_BENCH_UPLOAD_MIB"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 {
			b.Fatalf("KILN_BENCH_UPLOAD_MIB=%q is not a positive number", s)
		}
		mib = v
	}
	return mib << 20
}

// rounds is how many times each client uploads; the median counts.
const rounds = 3

func BenchmarkUpload512MiB(b *testing.B) {
	srv := testsshd.Start(b)
	sftpBin := testenv.Tool(b, "sftp")
	size := fileSize(b)
	src := filepath.Join(b.TempDir(), "payload")
	writePayload(b, src, size)
	remoteDir := b.TempDir()

	cfg := &ssh.Config{
		Host: srv.Host, Port: srv.Port, Username: srv.User,
		PrivateKeyFile: srv.ClientKeyFile, HostPublicKey: srv.HostKey,
	}
	// Both clients are timed from a cold start to the end of the upload:
	// connection, authentication, transfer, close.
	kiln := func() time.Duration {
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		start := time.Now()
		comm, err := ssh.Connect(context.Background(), cfg, ssh.ConnectOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := comm.Upload(context.Background(), filepath.Join(remoteDir, "kiln"), f, size, 0o644); err != nil {
			b.Fatal(err)
		}
		comm.Close()
		return time.Since(start)
	}
	openssh := func(extra ...string) func() time.Duration {
		return func() time.Duration {
			batch := filepath.Join(b.TempDir(), "batch")
			if err := os.WriteFile(batch, fmt.Appendf(nil, "put %s %s\n", src, filepath.Join(remoteDir, "openssh")), 0o644); err != nil {
				b.Fatal(err)
			}
			args := append([]string{"-q", "-b", batch, "-i", srv.ClientKeyFile, "-o", "UserKnownHostsFile=" + srv.KnownHostsFile,
				"-o", "BatchMode=yes", "-P", strconv.Itoa(srv.Port)}, extra...)
			args = append(args, srv.User+"@"+srv.Host)
			start := time.Now()
			if out, err := exec.Command(sftpBin, args...).CombinedOutput(); err != nil {
				b.Fatalf("sftp: %v\n%s", err, out)
			}
			return time.Since(start)
		}
	}
	clients := []struct {
		name string
		run  func() time.Duration
	}{
		{"kiln", kiln},
		{"openssh", openssh()},
		{"openssh-aes128gcm", openssh("-c", "aes128-gcm@openssh.com")},
	}
	for b.Loop() {
		times := map[string][]time.Duration{}
		for range rounds {
			for _, c := range clients {
				times[c.name] = append(times[c.name], c.run())
			}
		}
		mibs := map[string]float64{}
		for _, c := range clients {
			d := median(times[c.name])
			mibs[c.name] = float64(size) / (1 << 20) / d.Seconds()
			b.ReportMetric(mibs[c.name], c.name+"-MiB/s")
		}
		b.ReportMetric(mibs["kiln"]/mibs["openssh"], "ratio-vs-openssh")
		b.ReportMetric(mibs["kiln"]/mibs["openssh-aes128gcm"], "ratio-vs-openssh-aes128gcm")
		fmt.Printf("upload %d MiB, median of %d: kiln %.0f MiB/s, OpenSSH sftp %.0f MiB/s (default cipher), %.0f MiB/s (aes128-gcm); ratio kiln/OpenSSH %.2f (%.2f same cipher)\n",
			size>>20, rounds, mibs["kiln"], mibs["openssh"], mibs["openssh-aes128gcm"],
			mibs["kiln"]/mibs["openssh"], mibs["kiln"]/mibs["openssh-aes128gcm"])
	}
}

// writePayload writes size pseudo-random bytes (SSH does not compress here,
// but random data keeps any layer honest).
func writePayload(b *testing.B, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r := rand.NewChaCha8([32]byte{1})
	if _, err := io.CopyN(f, r, size); err != nil {
		b.Fatal(err)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkConnectReadiness measures how soon Connect notices an sshd that
// starts 3 s after Connect began: from sshd's "Server listening" to Connect
// returning.
func BenchmarkConnectReadiness(b *testing.B) {
	const delay = 3 * time.Second
	var lags []time.Duration
	for b.Loop() {
		srv := testsshd.Start(b, testsshd.Delay(delay))
		start := time.Now()
		comm, err := ssh.Connect(context.Background(), &ssh.Config{
			Host: srv.Host, Port: srv.Port, Username: srv.User,
			PrivateKeyFile: srv.ClientKeyFile, HostPublicKey: srv.HostKey,
		}, ssh.ConnectOptions{})
		if err != nil {
			b.Fatalf("Connect: %v\nsshd log:\n%s", err, srv.Log())
		}
		done := time.Now()
		comm.Close()
		srv.Stop()
		lag := done.Sub(srv.ReadyAt())
		lags = append(lags, lag)
		fmt.Printf("connect readiness: sshd listened %s after Connect began; Connect returned %s later\n",
			srv.ReadyAt().Sub(start).Round(time.Millisecond), lag.Round(time.Millisecond))
	}
	b.ReportMetric(float64(median(lags).Milliseconds()), "ms-after-ready(median)")
	b.ReportMetric(float64(slices.Max(lags).Milliseconds()), "ms-after-ready(max)")
}

// BenchmarkConnectReadinessNAT measures the same for a server behind a NAT
// port forward, as QEMU's user networking is: connections are accepted from
// the start but answered only once the machine is up (3 s here).
func BenchmarkConnectReadinessNAT(b *testing.B) {
	const delay = 3 * time.Second
	var lags []time.Duration
	for b.Loop() {
		srv := sshtest.Start(b, sshtest.Options{ReadyAfter: delay})
		comm, err := ssh.Connect(context.Background(), &ssh.Config{
			Host: srv.Host, Port: srv.Port, Username: sshtest.User,
			PrivateKeyFile: srv.ClientKeyFile, HostPublicKey: srv.HostKeyLine,
		}, ssh.ConnectOptions{})
		if err != nil {
			b.Fatalf("Connect: %v", err)
		}
		lag := time.Since(srv.ReadyAt())
		comm.Close()
		srv.Close()
		lags = append(lags, lag)
		fmt.Printf("connect readiness behind NAT: Connect returned %s after the server started answering\n", lag.Round(time.Millisecond))
	}
	b.ReportMetric(float64(median(lags).Milliseconds()), "ms-after-ready(median)")
	b.ReportMetric(float64(slices.Max(lags).Milliseconds()), "ms-after-ready(max)")
}

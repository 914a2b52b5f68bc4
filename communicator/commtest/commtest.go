package commtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/communicator"
)

// Run runs the suite. newComm is called once per check and returns a
// connected communicator; the check does not close it (use t.Cleanup).
func Run(t *testing.T, newComm func(t *testing.T) communicator.Communicator) {
	checks := []struct {
		name string
		fn   func(t *testing.T, c communicator.Communicator)
	}{
		{"RunOutput", testRunOutput},
		{"RunStdin", testRunStdin},
		{"RunExitStatus", testRunExitStatus},
		{"RunSignal", testRunSignal},
		{"RunCancel", testRunCancel},
		{"RunConcurrent", testRunConcurrent},
		{"UploadFile", testUploadFile},
		{"UploadUnknownSize", testUploadUnknownSize},
		{"UploadOverwrite", testUploadOverwrite},
		{"UploadLarge", testUploadLarge},
		{"DownloadMissing", testDownloadMissing},
		{"Tree", testTree},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newComm(t)) })
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// output runs command and returns its stdout, failing the test on error.
func output(t *testing.T, c communicator.Communicator, command string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := c.Run(ctxFor(t), &communicator.Cmd{Command: command, Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatalf("run %q: %v (stderr: %s)", command, err, errOut.String())
	}
	return out.String()
}

// tempDir makes a remote temporary directory, removed when the test ends.
func tempDir(t *testing.T, c communicator.Communicator) string {
	t.Helper()
	dir := strings.TrimSpace(output(t, c, "mktemp -d"))
	if !strings.HasPrefix(dir, "/") {
		t.Fatalf("mktemp -d printed %q", dir)
	}
	t.Cleanup(func() {
		_ = c.Run(context.Background(), &communicator.Cmd{Command: "rm -rf " + quote(dir)})
	})
	return dir
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// remoteSum returns the sha256 of a remote file, computed remotely.
func remoteSum(t *testing.T, c communicator.Communicator, p string) string {
	t.Helper()
	f := strings.Fields(output(t, c, "sha256sum "+quote(p)))
	if len(f) == 0 {
		t.Fatalf("sha256sum %s printed nothing", p)
	}
	return f[0]
}

// remoteMode returns the permission bits of a remote file.
func remoteMode(t *testing.T, c communicator.Communicator, p string) fs.FileMode {
	t.Helper()
	s := strings.TrimSpace(output(t, c, "stat -c %a "+quote(p)))
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		t.Fatalf("stat -c %%a %s printed %q", p, s)
	}
	return fs.FileMode(m)
}

func testRunOutput(t *testing.T, c communicator.Communicator) {
	var out, errOut bytes.Buffer
	err := c.Run(ctxFor(t), &communicator.Cmd{
		Command: `echo out1; echo err1 >&2; printf 'no newline'`,
		Stdout:  &out, Stderr: &errOut,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := out.String(), "out1\nno newline"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, want := errOut.String(), "err1\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
	// nil writers discard.
	if err := c.Run(ctxFor(t), &communicator.Cmd{Command: "echo discarded; echo discarded >&2"}); err != nil {
		t.Errorf("Run with nil writers: %v", err)
	}
}

func testRunStdin(t *testing.T, c communicator.Communicator) {
	in := randomBytes(t, 3<<20)
	var out bytes.Buffer
	if err := c.Run(ctxFor(t), &communicator.Cmd{Command: "cat", Stdin: bytes.NewReader(in), Stdout: &out}); err != nil {
		t.Fatalf("Run cat: %v", err)
	}
	if !bytes.Equal(out.Bytes(), in) {
		t.Errorf("cat echoed %d bytes (sha256 %s), want %d (sha256 %s)", out.Len(), sum(out.Bytes()), len(in), sum(in))
	}
}

func testRunExitStatus(t *testing.T, c communicator.Communicator) {
	for _, status := range []int{1, 2, 42, 255} {
		err := c.Run(ctxFor(t), &communicator.Cmd{Command: fmt.Sprintf("exit %d", status)})
		var ee *communicator.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("exit %d: got %v (%T), want *communicator.ExitError", status, err, err)
		}
		if ee.Status != status {
			t.Errorf("exit %d: Status = %d", status, ee.Status)
		}
		if errors.Is(err, communicator.ErrDisconnected) {
			t.Errorf("exit %d: error wraps ErrDisconnected", status)
		}
	}
	// The connection is still usable afterwards.
	if got := output(t, c, "echo still here"); got != "still here\n" {
		t.Errorf("after failures: %q", got)
	}
}

func testRunSignal(t *testing.T, c communicator.Communicator) {
	err := c.Run(ctxFor(t), &communicator.Cmd{Command: "kill -9 $$"})
	var ee *communicator.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("got %v (%T), want *communicator.ExitError", err, err)
	}
	if ee.Signal != "KILL" && ee.Status != 137 {
		t.Errorf("killed command: Signal = %q, Status = %d; want KILL (or status 137)", ee.Signal, ee.Status)
	}
}

// testRunCancel cancels a command that has a child: both the shell and the
// child must be gone soon after Run returns.
func testRunCancel(t *testing.T, c communicator.Communicator) {
	dir := tempDir(t, c)
	shellFile, childFile := path.Join(dir, "shell"), path.Join(dir, "child")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, &communicator.Cmd{Command: fmt.Sprintf("echo $$ > %s; sleep 60 & echo $! > %s; wait", quote(shellFile), quote(childFile))})
	}()
	// Wait until the command runs, then cancel it.
	var pids []string
	for deadline := time.Now().Add(20 * time.Second); len(pids) < 2 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		pids = strings.Fields(output(t, c, "cat "+quote(shellFile)+" "+quote(childFile)+" 2>/dev/null || true"))
	}
	if len(pids) < 2 {
		t.Fatal("the command never started")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Run returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of cancellation")
	}
	// The shell and its child are gone soon after.
	for _, pid := range pids {
		for deadline := time.Now().Add(10 * time.Second); ; {
			err := c.Run(ctxFor(t), &communicator.Cmd{Command: "kill -0 " + pid + " 2>/dev/null"})
			if err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("remote process %s still runs 10 s after cancellation", pid)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func testRunConcurrent(t *testing.T, c communicator.Communicator) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	outs := make([]bytes.Buffer, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = c.Run(ctxFor(t), &communicator.Cmd{Command: fmt.Sprintf("sleep 0.2; echo %d", i), Stdout: &outs[i]})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("run %d: %v", i, errs[i])
		} else if got := outs[i].String(); got != fmt.Sprintf("%d\n", i) {
			t.Errorf("run %d printed %q", i, got)
		}
	}
}

// roundTrip uploads data to dst with mode and checks content and mode on
// both sides.
func roundTrip(t *testing.T, c communicator.Communicator, dst string, data []byte, size int64, mode fs.FileMode) {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	if size < 0 {
		r = io.MultiReader(r) // hides the length
	}
	if err := c.Upload(ctxFor(t), dst, r, size, mode); err != nil {
		t.Fatalf("Upload %s: %v", dst, err)
	}
	if got, want := remoteSum(t, c, dst), sum(data); got != want {
		t.Errorf("remote sha256 of %s = %s, want %s", dst, got, want)
	}
	if got := remoteMode(t, c, dst); got != mode.Perm() {
		t.Errorf("remote mode of %s = %o, want %o", dst, got, mode.Perm())
	}
	var back bytes.Buffer
	if err := c.Download(ctxFor(t), dst, &back); err != nil {
		t.Fatalf("Download %s: %v", dst, err)
	}
	if got, want := sum(back.Bytes()), sum(data); got != want {
		t.Errorf("downloaded %d bytes with sha256 %s, want %d with %s", back.Len(), got, len(data), want)
	}
}

func testUploadFile(t *testing.T, c communicator.Communicator) {
	dir := tempDir(t, c)
	roundTrip(t, c, path.Join(dir, "new parent/sub dir/file.bin"), randomBytes(t, 100_000), 100_000, 0o640)
	roundTrip(t, c, path.Join(dir, "script.sh"), []byte("#!/bin/sh\necho ok\n"), 18, 0o755)
	if got := output(t, c, quote(path.Join(dir, "script.sh"))); got != "ok\n" {
		t.Errorf("uploaded script printed %q", got)
	}
	roundTrip(t, c, path.Join(dir, "empty"), nil, 0, 0o600)
}

func testUploadUnknownSize(t *testing.T, c communicator.Communicator) {
	dir := tempDir(t, c)
	roundTrip(t, c, path.Join(dir, "unknown"), randomBytes(t, 300_000), -1, 0o644)
}

func testUploadOverwrite(t *testing.T, c communicator.Communicator) {
	dir := tempDir(t, c)
	dst := path.Join(dir, "f")
	roundTrip(t, c, dst, randomBytes(t, 200_000), 200_000, 0o644)
	// A shorter file replaces the longer one entirely, mode included.
	roundTrip(t, c, dst, []byte("short"), 5, 0o600)
}

func testUploadLarge(t *testing.T, c communicator.Communicator) {
	n := 64 << 20
	if testing.Short() {
		n = 8 << 20
	}
	dir := tempDir(t, c)
	roundTrip(t, c, path.Join(dir, "large"), randomBytes(t, n), int64(n), 0o644)
}

func testDownloadMissing(t *testing.T, c communicator.Communicator) {
	dir := tempDir(t, c)
	err := c.Download(ctxFor(t), path.Join(dir, "missing"), io.Discard)
	if err == nil {
		t.Fatal("Download of a missing file succeeded")
	}
	if errors.Is(err, communicator.ErrDisconnected) {
		t.Errorf("missing file reported as a lost connection: %v", err)
	}
	if got := output(t, c, "echo alive"); got != "alive\n" {
		t.Errorf("after the failed download: %q", got)
	}
}

// tree is a local directory layout: path → mode and size (-1 for a directory).
var tree = []struct {
	path string
	mode fs.FileMode
	size int
}{
	{"a.txt", 0o644, 10},
	{"bin", 0o755 | fs.ModeDir, -1},
	{"bin/run.sh", 0o755, 200},
	{"secret", 0o700 | fs.ModeDir, -1},
	{"secret/key", 0o600, 3000},
	{"deep", 0o755 | fs.ModeDir, -1},
	{"deep/er", 0o750 | fs.ModeDir, -1},
	{"deep/er/big.bin", 0o640, 2 << 20},
	{"empty-dir", 0o755 | fs.ModeDir, -1},
	{"empty-file", 0o644, 0},
}

func testTree(t *testing.T, c communicator.Communicator) {
	dt, ok := c.(communicator.DirTransferer)
	if !ok {
		t.Skip("not a communicator.DirTransferer")
	}
	src := t.TempDir()
	sums := map[string]string{}
	for _, e := range tree {
		p := filepath.Join(src, e.path)
		if e.size < 0 {
			if err := os.Mkdir(p, e.mode.Perm()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data := randomBytes(t, e.size)
		sums[e.path] = sum(data)
		if err := os.WriteFile(p, data, e.mode.Perm()); err != nil {
			t.Fatal(err)
		}
	}
	// Modes are set after writing, so that the local umask does not matter.
	for _, e := range tree {
		if err := os.Chmod(filepath.Join(src, e.path), e.mode.Perm()); err != nil {
			t.Fatal(err)
		}
	}
	remote := path.Join(tempDir(t, c), "not/yet/there")
	if err := dt.UploadDir(ctxFor(t), remote, src); err != nil {
		t.Fatalf("UploadDir: %v", err)
	}
	for _, e := range tree {
		p := path.Join(remote, e.path)
		if got := remoteMode(t, c, p); got != e.mode.Perm() {
			t.Errorf("remote mode of %s = %o, want %o", e.path, got, e.mode.Perm())
		}
		if e.size >= 0 {
			if got := remoteSum(t, c, p); got != sums[e.path] {
				t.Errorf("remote sha256 of %s = %s, want %s", e.path, got, sums[e.path])
			}
		}
	}
	back := filepath.Join(t.TempDir(), "back")
	if err := dt.DownloadDir(ctxFor(t), remote, back); err != nil {
		t.Fatalf("DownloadDir: %v", err)
	}
	var got []string
	err := filepath.WalkDir(back, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == back {
			return err
		}
		rel, _ := filepath.Rel(back, p)
		got = append(got, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(tree) {
		t.Errorf("downloaded tree holds %v, want the %d entries uploaded", got, len(tree))
	}
	for _, e := range tree {
		p := filepath.Join(back, e.path)
		st, err := os.Stat(p)
		if err != nil {
			t.Errorf("downloaded tree: %v", err)
			continue
		}
		if st.Mode().Perm() != e.mode.Perm() || st.IsDir() != (e.size < 0) {
			t.Errorf("downloaded %s has mode %v, want %v", e.path, st.Mode(), e.mode)
		}
		if e.size >= 0 {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if sum(data) != sums[e.path] {
				t.Errorf("downloaded %s differs from the original", e.path)
			}
		}
	}
}

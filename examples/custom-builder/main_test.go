//go:build unix

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	gobuild "go/build"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/communicator/commtest"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/template"
)

// TestPublicImportsOnly keeps the example honest: a builder outside this
// module cannot import kiln's internal packages, so neither does this one.
func TestPublicImportsOnly(t *testing.T) {
	pkg, err := gobuild.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	imports := append(append([]string{}, pkg.Imports...), pkg.TestImports...)
	kilnImports := 0
	for _, imp := range imports {
		if imp != "github.com/kilnhq/kiln" && !strings.HasPrefix(imp, "github.com/kilnhq/kiln/") {
			continue
		}
		kilnImports++
		if imp == "github.com/kilnhq/kiln/internal" || strings.Contains(imp+"/", "/internal/") {
			t.Errorf("the example imports %s, which a program outside kiln cannot", imp)
		}
	}
	if kilnImports == 0 {
		t.Fatalf("found no kiln import among %v: the check checks nothing", imports)
	}
}

// TestBuild runs the program on the template shipped next to it and checks
// the tarball holds what the provisioner wrote.
func TestBuild(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the builder makes its scratch directory
	output := filepath.Join(t.TempDir(), "out", "hello.tar.gz")
	var out, errOut bytes.Buffer
	code := run(context.Background(), "template", []string{"output=" + output, "greeting=hi there"}, &out, &errOut)
	t.Log(out.String())
	if code != 0 {
		t.Fatalf("run = %d, want 0; stderr: %s", code, errOut.String())
	}
	files := readTarball(t, output)
	if got, want := files["etc/motd"], "hi there\n"; got != want {
		t.Errorf("etc/motd = %q, want %q", got, want)
	}
	if got := files["etc/build-info"]; !strings.HasPrefix(got, "built on scratch-") || !strings.HasSuffix(got, " by scratch\n") {
		t.Errorf("etc/build-info = %q, want build.ID and PACKER_BUILDER_TYPE", got)
	}
	if _, ok := files["README"]; !ok {
		t.Errorf("the tarball lacks README from source_dir; it holds %v", files)
	}
	if !strings.Contains(out.String(), "artifact: tarball "+output) {
		t.Errorf("the output does not report the artifact")
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the build left %v in TMPDIR", left)
	}

	// An existing tarball is replaced only with -force.
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), "template", []string{"output=" + output}, &out, &errOut); code != 1 || !strings.Contains(out.String(), "already exists") {
		t.Errorf("second build without force: run = %d, output:\n%s", code, out.String())
	}
	if code := run(context.Background(), "template", []string{"output=" + output}, &out, &errOut, kiln.WithForce(true)); code != 0 {
		t.Errorf("second build with force: run = %d, output:\n%s", code, out.String())
	}
	if got := readTarball(t, output)["etc/motd"]; got != "hello from a custom builder\n" {
		t.Errorf("after the forced build etc/motd = %q", got)
	}
}

// readTarball returns the regular files of a gzipped tarball by name, and
// its directories with an empty value.
func readTarball(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(hdr.Name, "/")] = string(data)
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		line       int // of the error; 0 for none
		summary    string
	}{
		{"valid", "output = \"x.tar.gz\"\nsource_dir = \"files\"\n", 0, ""},
		{"unknown attribute", "output = \"x.tar.gz\"\noutptu = \"y\"\n", 2, "Unsupported argument"},
		{"block", "output = \"x.tar.gz\"\nboot {\n}\n", 2, "Unsupported block type"},
		{"missing output", "source_dir = \"files\"\n", 1, "Missing required argument"},
		{"empty output", "source_dir = \"files\"\noutput = \"\"\n", 2, "Empty output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, diags := hclsyntax.ParseConfig([]byte(tc.body), "t.pkr.hcl", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			b, diags := newScratch(f.Body, nil)
			if tc.line == 0 {
				if diags.HasErrors() || b == nil {
					t.Fatalf("diags = %v", diags)
				}
				return
			}
			if !diags.HasErrors() || len(diags) != 1 {
				t.Fatalf("diags = %v, want one error", diags)
			}
			d := diags[0]
			if d.Summary != tc.summary || d.Subject == nil || d.Subject.Start.Line != tc.line {
				t.Errorf("got %q at %v, want %q on line %d", d.Summary, d.Subject, tc.summary, tc.line)
			}
		})
	}
}

// TestValidate checks templates against the registries with the scratch
// builder: the shipped one is valid, a misspelt attribute is reported at its
// line.
func TestValidate(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := validate("template", nil, &out, &errOut); code != 0 || out.String() != "The configuration is valid.\n" {
		t.Errorf("validate template = %d, output %q, diagnostics:\n%s", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	dir := writeTemplate(t, strings.Replace(slowTemplate, "output =", "outptu =", 1))
	if code := validate(dir, []string{"dir=/tmp"}, &out, &errOut); code != 2 {
		t.Errorf("validate of a misspelt attribute = %d, want 2", code)
	}
	for _, want := range []string{"Unsupported argument", "slow.pkr.hcl line 7", "outptu", "Missing required argument"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("the diagnostics lack %q:\n%s", want, errOut.String())
		}
	}
}

// writeTemplate writes text as slow.pkr.hcl in a new directory and returns
// the directory.
func writeTemplate(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "slow.pkr.hcl"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// slowTemplate is a scratch build whose provisioner records the machine's
// ID and root in dir, starts a sleep, writes its PID, prints "sleeping" and
// waits.
const slowTemplate = `
variable "dir" {
  type = string
}

source "scratch" "slow" {
  output = "${var.dir}/slow.tar.gz"
}

build {
  sources = ["source.scratch.slow"]

  provisioner "shell" {
    inline = [
      "echo ${build.ID} > ${var.dir}/id",
      "pwd > ${var.dir}/root",
      "sleep 60 & echo $! > ${var.dir}/sleep.pid",
      "echo sleeping",
      "wait",
    ]
  }
}
`

// recorder keeps a build's events and lets a test act on them as they come.
type recorder struct {
	t      *testing.T
	mu     sync.Mutex
	events []event.Event
	on     func(event.Event)
	log    event.Sink
}

func newRecorder(t *testing.T, on func(event.Event)) *recorder {
	return &recorder{t: t, on: on, log: render(testWriter{t})}
}

func (r *recorder) Emit(e event.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	r.log.Emit(e)
	r.on(e)
}

// undone returns, by resource, the errors of the undos that ran, and the
// resources reported as left behind.
func (r *recorder) undone() (finished map[string]string, left []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	finished = map[string]string{}
	for _, e := range r.events {
		switch e := e.(type) {
		case *event.UndoFinished:
			finished[e.What] = e.Error
		case *event.LeftBehind:
			left = append(left, e.What)
		}
	}
	return finished, left
}

func (r *recorder) cancelled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if f, ok := e.(*event.BuildFinished); ok {
			return f.Cancelled
		}
	}
	return false
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// slowMachine is what the provisioner of slowTemplate recorded.
type slowMachine struct {
	id       string
	root     string
	initPID  int
	sleepPID int
}

// buildSlow runs slowTemplate with the scratch builder, sending its events
// to the recorder rec makes (which cancels the build, as the test wants),
// checks that the build ended cancelled without a tarball, and returns the
// recorder and what the provisioner recorded.
func buildSlow(t *testing.T, rec func(cancel context.CancelFunc) *recorder, opts ...kiln.Option) (*recorder, slowMachine) {
	t.Helper()
	dir := t.TempDir()
	tpl, diags := kiln.Load(writeTemplate(t, slowTemplate), template.WithVars("dir="+dir))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := rec(cancel)
	_, err := kiln.Build(ctx, tpl, append([]kiln.Option{kiln.WithRegistries(registries()), kiln.WithEvents(r)}, opts...)...)
	if err == nil {
		t.Fatal("the build succeeded; want it cancelled")
	}
	if ctx.Err() == nil || !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("the build ended with %v before it was cancelled", err)
	}
	if !r.cancelled() {
		t.Errorf("BuildFinished does not report the build as cancelled")
	}
	var m slowMachine
	m.id = readFile(t, filepath.Join(dir, "id"))
	m.root = readFile(t, filepath.Join(dir, "root"))
	m.initPID = atoi(t, strings.TrimPrefix(m.id, "scratch-"))
	m.sleepPID = atoi(t, readFile(t, filepath.Join(dir, "sleep.pid")))
	if _, err := os.Stat(filepath.Join(dir, "slow.tar.gz")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cancelled build left its tarball (stat: %v)", err)
	}
	return r, m
}

// TestInterrupt cancels a build while its provisioner sleeps: the undo of
// every resource runs, and they are gone when Build returns.
func TestInterrupt(t *testing.T) {
	r, m := buildSlow(t, func(cancel context.CancelFunc) *recorder {
		return newRecorder(t, func(e event.Event) {
			if o, ok := e.(*event.Output); ok && o.Line == "sleeping" {
				cancel()
			}
		})
	})
	finished, left := r.undone()
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	machine := fmt.Sprintf("machine %s (init pid %d)", m.id, m.initPID)
	for _, what := range []string{machine, "scratch directory " + m.root} {
		errText, ok := finished[what]
		if !ok {
			t.Errorf("no UndoFinished for %q; got %v", what, finished)
		} else if errText != "" {
			t.Errorf("undo of %q failed: %s", what, errText)
		}
	}
	if _, err := os.Stat(m.root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the scratch directory %s is still there (stat: %v)", m.root, err)
	}
	if alive(m.initPID) {
		t.Errorf("the machine's init (pid %d) still runs", m.initPID)
	}
	waitDead(t, m.sleepPID)
}

// TestCleanupStop closes the cleanup stop as undo starts: what undo had not
// removed yet is reported as left behind, and is still there.
func TestCleanupStop(t *testing.T) {
	stop := make(chan struct{})
	var once sync.Once
	r, m := buildSlow(t, func(cancel context.CancelFunc) *recorder {
		return newRecorder(t, func(e event.Event) {
			switch e := e.(type) {
			case *event.Output:
				if e.Line == "sleeping" {
					cancel()
				}
			case *event.UndoStarted:
				once.Do(func() { close(stop) })
			}
		})
	}, kiln.WithCleanupStop(stop))
	t.Cleanup(func() {
		_ = syscall.Kill(-m.initPID, syscall.SIGKILL)
		_ = os.RemoveAll(m.root)
	})
	finished, left := r.undone()
	dir := "scratch directory " + m.root
	if len(left) == 0 || left[len(left)-1] != dir {
		t.Fatalf("left behind: %v, want the scratch directory last", left)
	}
	if _, ok := finished[dir]; ok {
		t.Errorf("the undo of the scratch directory ran after cleanup was stopped")
	}
	if _, err := os.Stat(m.root); err != nil {
		t.Errorf("the scratch directory reported as left behind is gone: %v", err)
	}
}

// TestCommunicator runs kiln's communicator conformance suite on the
// machine.
func TestCommunicator(t *testing.T) {
	commtest.Run(t, func(t *testing.T) communicator.Communicator {
		m, err := boot(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.powerOff(context.Background()) })
		return m
	})
}

// TestPowerOff checks that powering off kills what a command left running
// in the background and that the machine refuses work afterwards.
func TestPowerOff(t *testing.T) {
	root := t.TempDir()
	m, err := boot(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := m.Run(ctx, &communicator.Cmd{Command: "sleep 60 >/dev/null 2>&1 & echo $!; pwd", Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(out.String())
	if len(fields) != 2 || fields[1] != root {
		t.Fatalf("printed %q, want a PID and the root %s", out.String(), root)
	}
	daemon := atoi(t, fields[0])
	if !alive(daemon) {
		t.Fatalf("the background sleep (pid %d) is not running", daemon)
	}
	if err := m.powerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if alive(m.pid()) {
		t.Errorf("init (pid %d) runs after power off", m.pid())
	}
	waitDead(t, daemon)
	if err := m.Run(ctx, &communicator.Cmd{Command: "true"}); !errors.Is(err, communicator.ErrDisconnected) {
		t.Errorf("Run after power off = %v, want ErrDisconnected", err)
	}
	if err := m.Upload(ctx, "f", strings.NewReader("x"), 1, 0o644); !errors.Is(err, communicator.ErrDisconnected) {
		t.Errorf("Upload after power off = %v, want ErrDisconnected", err)
	}
	if err := m.powerOff(ctx); err != nil {
		t.Errorf("second power off: %v", err)
	}
}

// alive reports whether pid is a process that has not exited (a zombie
// waiting for its parent counts as exited).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitDead waits for pid to exit: a killed process ends when the kernel
// gets to it, not at the kill call.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

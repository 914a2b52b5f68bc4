package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
)

// blankImage makes an empty qcow2: qemu boots it into firmware that finds
// nothing to boot, which is enough for tests that interrupt the build.
func blankImage(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "blank.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", p, "64M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	return p
}

// cancelAt returns a sink that cancels the build delay after step starts.
func cancelAt(rec *eventtest.Recorder, stepName string, delay time.Duration, cancel context.CancelFunc) event.Sink {
	return event.SinkFunc(func(e event.Event) {
		rec.Emit(e)
		if s, ok := e.(*event.StepStarted); ok && s.Step == stepName {
			if delay == 0 {
				cancel()
			} else {
				time.AfterFunc(delay, cancel)
			}
		}
	})
}

func noHook(t *testing.T) builder.Hook {
	return builder.HookFunc(func(context.Context, communicator.Communicator, map[string]string) error {
		t.Error("provisioning reached in an interrupted build")
		return nil
	})
}

// TestInterruptEachStage cancels a build at each step up to the SSH wait
// (qemu running) and checks that nothing is left: no qemu, no temporary
// files, no staging or output directory.
func TestInterruptEachStage(t *testing.T) {
	t.Parallel()
	vmTools(t)
	src := blankImage(t)
	stages := []struct {
		step  string
		delay time.Duration
	}{
		{"prepare output", 0},
		{"fetch source image", 0},
		{"create disk", 0},
		{"create seed", 0},
		{"start qemu", 0},
		{"connect", 2 * time.Second}, // qemu is up and the guest booting
	}
	for _, st := range stages {
		t.Run(strings.ReplaceAll(st.step, " ", "_"), func(t *testing.T) {
			work := t.TempDir()
			b := newBuilder(t, sourceBody(src, filepath.Join(work, "out"), `iso_checksum = "none"`+"\n"+`accelerator = "tcg"`))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec := &eventtest.Recorder{}
			_, err := b.Run(ctx, &builder.Env{Info: builder.Info{SourceName: "x"}, Events: cancelAt(rec, st.step, st.delay, cancel)}, noHook(t))
			// Not errors.Is: the qemu-img and seed steps report the
			// cancellation in words only.
			if err == nil || !strings.Contains(err.Error(), context.Canceled.Error()) {
				t.Fatalf("interrupted build = %v, want it to end with the cancellation", err)
			}
			assertClean(t, b, work, false)
			if st.step == "connect" && !anyContains(rec.Messages(), "qemu started") {
				t.Errorf("qemu never started: %v", rec.Messages())
			}
		})
	}
}

// TestOutputExists checks that an existing output directory stops a build
// unless forced, and that a forced build that is interrupted leaves the old
// output as it was.
func TestOutputExists(t *testing.T) {
	t.Parallel()
	vmTools(t)
	src := blankImage(t)
	work := t.TempDir()
	out := filepath.Join(work, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(out, "old.qcow2")
	if err := os.WriteFile(old, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := newBuilder(t, sourceBody(src, out, "iso_checksum = \"none\"\naccelerator = \"tcg\""))
	_, err := b.Run(context.Background(), &builder.Env{Info: builder.Info{SourceName: "x"}}, noHook(t))
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "-force") {
		t.Fatalf("existing output: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &eventtest.Recorder{}
	_, err = b.Run(ctx, &builder.Env{Info: builder.Info{SourceName: "x"}, Force: true, Events: cancelAt(rec, "start qemu", 0, cancel)}, noHook(t))
	if err == nil {
		t.Fatal("interrupted forced build succeeded")
	}
	if data, err := os.ReadFile(old); err != nil || string(data) != "old" {
		t.Errorf("the old output was touched: %q, %v", data, err)
	}
	assertClean(t, b, work, true)
}

// TestGuestStopsBeforeSSH checks that a guest that dies while kiln waits
// for SSH ends the wait at once with qemu's own words.
func TestGuestStopsBeforeSSH(t *testing.T) {
	t.Parallel()
	vmTools(t)
	work := t.TempDir()
	b := newBuilder(t, sourceBody(blankImage(t), filepath.Join(work, "out"), `iso_checksum = "none"
accelerator  = "tcg"
qemuargs     = [["-no-reboot"], ["-boot", "reboot-timeout=1000"]]`))
	// The deadline only keeps a build that never notices from hanging; the
	// error says which ended it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := b.Run(ctx, &builder.Env{Info: builder.Info{SourceName: "x"}}, noHook(t))
	if err == nil {
		t.Fatal("build with a broken guest succeeded")
	}
	if !strings.Contains(err.Error(), "the guest stopped before SSH was ready: qemu exited") {
		t.Errorf("error does not say qemu exited: %v", err)
	}
	assertClean(t, b, work, false)
}

// TestDebugKeepsTemporaryFiles checks that -debug keeps the temporary
// directory with the login key (0600) and the serial log, and still leaves
// no qemu running.
func TestDebugKeepsTemporaryFiles(t *testing.T) {
	t.Parallel()
	vmTools(t)
	work := t.TempDir()
	b := newBuilder(t, sourceBody(blankImage(t), filepath.Join(work, "out"), "iso_checksum = \"none\"\naccelerator = \"tcg\""))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &eventtest.Recorder{}
	_, err := b.Run(ctx, &builder.Env{Info: builder.Info{SourceName: "x"}, Debug: true, Events: cancelAt(rec, "connect", time.Second, cancel)}, noHook(t))
	if err == nil {
		t.Fatal("interrupted build succeeded")
	}
	if procs := qemuProcesses(t, b.tmpRoot); len(procs) > 0 {
		t.Errorf("qemu still running: %v", procs)
	}
	keys, _ := filepath.Glob(filepath.Join(b.tmpRoot, "kiln-qemu-*", "login_ed25519"))
	if len(keys) != 1 {
		t.Fatalf("login key kept: %v", keys)
	}
	st, err := os.Stat(keys[0])
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("login key mode: %v, %v", st.Mode(), err)
	}
	data, _ := os.ReadFile(keys[0])
	if _, err := gossh.ParsePrivateKey(data); err != nil {
		t.Errorf("login key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(keys[0]), "serial.log")); err != nil {
		t.Errorf("serial log: %v", err)
	}
	if !anyContains(rec.Messages(), "debug: keeping") {
		t.Errorf("no message says where: %v", rec.Messages())
	}
}

// TestMissingFiles checks that files the template names but that do not
// exist fail the build with an error naming the option, before qemu runs,
// and leave nothing behind.
func TestMissingFiles(t *testing.T) {
	t.Parallel()
	vmTools(t)
	src := blankImage(t)
	for _, tt := range []struct{ extra, want string }{
		{`kernel = "/nonexistent/vmlinuz"`, "kernel: stat /nonexistent/vmlinuz"},
		{`firmware = "/nonexistent/bios.bin"`, "firmware: stat /nonexistent/bios.bin"},
		{"efi_boot = true\nefi_firmware_code = \"/nonexistent/CODE.fd\"\nefi_firmware_vars = \"/nonexistent/VARS.fd\"", "efi_firmware_code: stat /nonexistent/CODE.fd"},
		{`qemu_binary = "/nonexistent/qemu"`, "/nonexistent/qemu"},
		{`cd_files = ["/nonexistent/*.cfg"]`, "matches no file"},
	} {
		work := t.TempDir()
		b := newBuilder(t, sourceBody(src, filepath.Join(work, "out"), "iso_checksum = \"none\"\naccelerator = \"tcg\"\n"+tt.extra))
		_, err := b.Run(context.Background(), &builder.Env{Info: builder.Info{SourceName: "x"}}, noHook(t))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.extra, err, tt.want)
		}
		assertClean(t, b, work, false)
	}
}

// TestVNCWhenNotHeadless checks that a build with headless = false (Packer's
// default) serves the display over VNC on 127.0.0.1 only.
func TestVNCWhenNotHeadless(t *testing.T) {
	t.Parallel()
	vmTools(t)
	work := t.TempDir()
	b := newBuilder(t, "disk_image = true\niso_checksum = \"none\"\naccelerator = \"tcg\"\n"+
		"iso_url = \""+blankImage(t)+"\"\noutput_directory = \""+filepath.Join(work, "out")+"\"\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &eventtest.Recorder{}
	var vncLine string
	sink := event.SinkFunc(func(e event.Event) {
		rec.Emit(e)
		if m, ok := e.(*event.Message); ok && strings.Contains(m.Text, "VNC") {
			vncLine = m.Text
			// qemu is running: look at what it listens on, then stop.
			out, _ := exec.Command("ss", "-ltnH").Output()
			for _, line := range strings.Split(string(out), "\n") {
				if f := strings.Fields(line); len(f) >= 4 && strings.HasSuffix(f[3], ":"+vncPort(m.Text)) && !strings.HasPrefix(f[3], "127.0.0.1:") {
					t.Errorf("VNC listens on %s", f[3])
				}
			}
			cancel()
		}
	})
	if _, err := b.Run(ctx, &builder.Env{Info: builder.Info{SourceName: "x"}, Events: sink}, noHook(t)); err == nil {
		t.Fatal("interrupted build succeeded")
	}
	if !strings.Contains(vncLine, "display on VNC 127.0.0.1:59") {
		t.Errorf("no VNC message: %v", rec.Messages())
	}
	assertClean(t, b, work, false)
}

// vncPort returns the port at the end of a "VNC HOST:PORT" message.
func vncPort(text string) string {
	return text[strings.LastIndex(text, ":")+1:]
}

package integration

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kilnhq/kiln/internal/testsshd"
)

// hostSource is a null source that provisions the test's sshd.
func hostSource(s *testsshd.Server) string {
	return "source \"null\" \"host\" {\n" + s.HCL() + "}\n"
}

func TestBuildShellInlineAndScript(t *testing.T) {
	sshd := testsshd.Start(t)
	dir := t.TempDir()
	out := t.TempDir()
	writeFile(t, dir, "script.sh", `#!/bin/sh
set -eu
echo "script ran with NAME=$NAME and SPACED=$SPACED"
printf '%s' "$NAME" > "$OUT/script.txt"
`)
	writeFile(t, dir, "shell.pkr.hcl", hostSource(sshd)+fmt.Sprintf(`
build {
  name    = "it"
  sources = ["source.null.host"]

  provisioner "shell" {
    environment_vars = ["GREETING=hello world", "QUOTED=it's \"quoted\""]
    inline = [
      "echo \"$GREETING\" > %[1]s/inline.txt",
      "echo \"$QUOTED\" > %[1]s/quoted.txt",
      "echo inline-stdout",
      "echo inline-stderr >&2",
    ]
  }

  provisioner "shell" {
    environment_vars = ["NAME=from-script", "SPACED=a b  c", "OUT=%[1]s"]
    script           = "${path.root}/script.sh"
  }
}
`, out))
	r := runKiln(t, dir, "build", "-json", ".")
	if r.code != 0 {
		t.Fatalf("kiln build failed:\n%s", r)
	}
	if got := readFile(t, filepath.Join(out, "inline.txt")); got != "hello world\n" {
		t.Errorf("inline.txt = %q", got)
	}
	if got := readFile(t, filepath.Join(out, "quoted.txt")); got != "it's \"quoted\"\n" {
		t.Errorf("quoted.txt = %q", got)
	}
	if got := readFile(t, filepath.Join(out, "script.txt")); got != "from-script" {
		t.Errorf("script.txt = %q", got)
	}
	evs := events(t, r.stdout)
	stdout, stderr := outputLines(evs, "stdout"), outputLines(evs, "stderr")
	for _, want := range []string{"inline-stdout", "script ran with NAME=from-script and SPACED=a b  c"} {
		if !contains(stdout, want) {
			t.Errorf("no stdout output line %q in %q", want, stdout)
		}
	}
	if !contains(stderr, "inline-stderr") {
		t.Errorf("no stderr output line inline-stderr in %q", stderr)
	}
	for _, e := range ofType(evs, "output") {
		if e["build"] != "it.null.host" || !strings.Contains(fmt.Sprint(e["source"]), `provisioner "shell"`) {
			t.Errorf("output event without its build or source: %v", e)
		}
	}
}

func TestBuildJSONStream(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "local.pkr.hcl", `
source "null" "a" {
  communicator = "none"
}

build {
  sources = ["source.null.a"]

  provisioner "shell-local" {
    inline = ["echo one", "echo two"]
  }
}
`)
	r := runKiln(t, dir, "build", "-json", ".")
	if r.code != 0 {
		t.Fatalf("kiln build failed:\n%s", r)
	}
	evs := events(t, r.stdout)
	if first, last := evs[0]["type"], evs[len(evs)-1]["type"]; first != "run.started" || last != "run.finished" {
		t.Errorf("stream runs from %v to %v, want run.started to run.finished", first, last)
	}
	started := ofType(evs, "run.started")[0]
	if b, _ := started["builds"].([]any); len(b) != 1 || b[0] != "null.a" {
		t.Errorf("run.started builds = %v, want [null.a]", started["builds"])
	}
	if id, _ := started["run_id"].(string); id == "" {
		t.Errorf("run.started has no run_id: %v", started)
	}
	fin := ofType(evs, "build.finished")
	if len(fin) != 1 || fin[0]["build"] != "null.a" || fin[0]["error"] != nil {
		t.Errorf("build.finished events: %v", fin)
	}
	if d, _ := fin[0]["duration_ns"].(float64); d <= 0 {
		t.Errorf("build.finished has no duration: %v", fin[0])
	}
	if got := outputLines(evs, "stdout"); !contains(got, "one") || !contains(got, "two") {
		t.Errorf("output lines %q, want one and two", got)
	}
	if r.stderr != "" {
		t.Errorf("stderr is not empty with -json: %q", r.stderr)
	}
}

func TestBuildHumanOutput(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "local.pkr.hcl", `
source "null" "a" {
  communicator = "none"
}

build {
  name    = "web"
  sources = ["source.null.a"]

  provisioner "shell-local" {
    inline = ["echo hello from shell-local"]
  }
}
`)
	r := runKiln(t, dir, "build", ".")
	if r.code != 0 {
		t.Fatalf("kiln build failed:\n%s", r)
	}
	for _, want := range []string{
		"==> web.null.a: Starting build (null)",
		"    web.null.a: hello from shell-local",
		"==> Builds finished in ",
		"--> web.null.a: succeeded in ",
		"    web.null.a: steps: ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("colour codes in output that is not a terminal:\n%q", r.stdout)
	}
}

func TestBuildExpectDisconnect(t *testing.T) {
	sshd := testsshd.Start(t)
	dir := t.TempDir()
	out := t.TempDir()
	// The first provisioner kills the sshd process serving its connection,
	// as a reboot would; the second one must reconnect and run.
	writeFile(t, dir, "reboot.pkr.hcl", hostSource(sshd)+fmt.Sprintf(`
build {
  sources = ["source.null.host"]

  provisioner "shell" {
    expect_disconnect = true
    inline = [
      "touch %[1]s/before",
      "p=$PPID; while [ \"$p\" -gt 1 ]; do case \"$(cat /proc/$p/comm)\" in sshd*) kill -9 \"$p\"; break;; esac; p=$(awk '/^PPid:/{print $2}' /proc/$p/status); done",
      "sleep 5",
      "touch %[1]s/not-reached",
    ]
  }

  provisioner "shell" {
    inline = ["touch %[1]s/after"]
  }
}
`, out))
	r := runKiln(t, dir, "build", ".")
	if r.code != 0 {
		t.Fatalf("kiln build failed:\n%s", r)
	}
	for name, want := range map[string]bool{"before": true, "after": true, "not-reached": false} {
		_, err := os.Stat(filepath.Join(out, name))
		if got := err == nil; got != want {
			t.Errorf("file %s exists = %v, want %v\n%s", name, got, want, r)
		}
	}
}

func TestBuildExpectDisconnectNotSet(t *testing.T) {
	sshd := testsshd.Start(t)
	dir := t.TempDir()
	writeFile(t, dir, "reboot.pkr.hcl", hostSource(sshd)+`
build {
  sources = ["source.null.host"]

  provisioner "shell" {
    inline = [
      "p=$PPID; while [ \"$p\" -gt 1 ]; do case \"$(cat /proc/$p/comm)\" in sshd*) kill -9 \"$p\"; break;; esac; p=$(awk '/^PPid:/{print $2}' /proc/$p/status); done",
      "sleep 5",
    ]
  }
}
`)
	r := runKiln(t, dir, "build", ".")
	if r.code != 1 {
		t.Fatalf("a lost connection without expect_disconnect: exit %d, want 1\n%s", r.code, r)
	}
	if !strings.Contains(r.stdout, `provisioner "shell" (reboot.pkr.hcl:`) {
		t.Errorf("the error does not name the provisioner block:\n%s", r)
	}
}

func TestBuildFileTransfer(t *testing.T) {
	sshd := testsshd.Start(t)
	dir := t.TempDir()
	remote := t.TempDir()
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	writeFile(t, dir, "one.txt", "a single file\n")
	writeFile(t, dir, "tree/top.txt", "top\n")
	writeFile(t, dir, "tree/empty", "")
	writeFile(t, dir, "tree/sub/deeper/leaf.txt", "leaf\n")
	writeFile(t, dir, "tree/sub/big.bin", string(big))
	writeFile(t, dir, "files.pkr.hcl", hostSource(sshd)+fmt.Sprintf(`
build {
  sources = ["source.null.host"]

  provisioner "file" {
    source      = "${path.root}/one.txt"
    destination = "%[1]s/one.txt"
  }

  provisioner "file" {
    source      = "${path.root}/tree/"
    destination = "%[1]s/tree"
  }

  provisioner "file" {
    direction   = "download"
    source      = "%[1]s/one.txt"
    destination = "${path.root}/back/one.txt"
  }

  provisioner "file" {
    direction   = "download"
    source      = "%[1]s/tree/"
    destination = "${path.root}/back/tree"
  }
}
`, remote))
	r := runKiln(t, dir, "build", ".")
	if r.code != 0 {
		t.Fatalf("kiln build failed:\n%s", r)
	}
	if got := readFile(t, filepath.Join(remote, "one.txt")); got != "a single file\n" {
		t.Errorf("uploaded file = %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "back/one.txt")); got != "a single file\n" {
		t.Errorf("downloaded file = %q", got)
	}
	want := treeSums(t, filepath.Join(dir, "tree"))
	if len(want) != 4 {
		t.Fatalf("source tree has %d files, want 4", len(want))
	}
	for _, got := range []string{filepath.Join(remote, "tree"), filepath.Join(dir, "back/tree")} {
		sums := treeSums(t, got)
		for _, k := range sortedKeys(want) {
			if sums[k] != want[k] {
				t.Errorf("%s/%s: sha256 %q, want %q", got, k, sums[k], want[k])
			}
		}
		if len(sums) != len(want) {
			t.Errorf("%s holds %v, want %v", got, sortedKeys(sums), sortedKeys(want))
		}
	}
}

func TestBuildShellLocalAndManifest(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "local.pkr.hcl", `
source "null" "first" {
  communicator = "none"
}

source "null" "second" {
  communicator = "none"
}

build {
  name    = "m"
  sources = ["source.null.first", "source.null.second"]

  provisioner "shell-local" {
    environment_vars = ["WHO=${source.name}"]
    inline           = ["echo \"local $WHO\" > '${path.root}/${source.name}.txt'"]
  }

  post-processor "manifest" {
    output = "${path.root}/manifest.json"
    custom_data = {
      team = "images"
    }
  }

  post-processor "shell-local" {
    inline = ["echo post > '${path.root}/post-${source.name}.txt'"]
  }
}
`)
	r := runKiln(t, dir, "build", "-json", ".")
	if r.code != 0 {
		t.Fatalf("kiln build failed:\n%s", r)
	}
	for _, name := range []string{"first", "second"} {
		if got := readFile(t, filepath.Join(dir, name+".txt")); got != "local "+name+"\n" {
			t.Errorf("%s.txt = %q", name, got)
		}
		if got := readFile(t, filepath.Join(dir, "post-"+name+".txt")); got != "post\n" {
			t.Errorf("post-%s.txt = %q", name, got)
		}
	}
	runID, _ := ofType(events(t, r.stdout), "run.started")[0]["run_id"].(string)
	var manifest struct {
		Builds []struct {
			Name          string            `json:"name"`
			BuilderType   string            `json:"builder_type"`
			BuildTime     int64             `json:"build_time"`
			Files         []any             `json:"files"`
			ArtifactID    string            `json:"artifact_id"`
			PackerRunUUID string            `json:"packer_run_uuid"`
			CustomData    map[string]string `json:"custom_data"`
		} `json:"builds"`
		LastRunUUID string `json:"last_run_uuid"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "manifest.json"))), &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest.Builds) != 2 {
		t.Fatalf("manifest has %d builds, want 2 (parallel builds write one file): %+v", len(manifest.Builds), manifest)
	}
	names := map[string]bool{}
	for _, b := range manifest.Builds {
		names[b.Name] = true
		if b.BuilderType != "null" || b.ArtifactID != "Null" || b.CustomData["team"] != "images" {
			t.Errorf("manifest build %+v", b)
		}
		if b.BuildTime < time.Now().Add(-time.Hour).Unix() || b.BuildTime > time.Now().Unix()+1 {
			t.Errorf("manifest build_time %d is not now", b.BuildTime)
		}
		if b.PackerRunUUID == "" || b.PackerRunUUID != runID {
			t.Errorf("manifest packer_run_uuid %q, want the run's ID %q", b.PackerRunUUID, runID)
		}
	}
	if !names["first"] || !names["second"] {
		t.Errorf("manifest build names %v, want first and second", names)
	}
	if manifest.LastRunUUID != runID {
		t.Errorf("manifest last_run_uuid %q, want %q", manifest.LastRunUUID, runID)
	}
}

func TestBuildFailureExitCodes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "fail.pkr.hcl", `
source "null" "a" {
  communicator = "none"
}

source "null" "b" {
  communicator = "none"
}

build {
  sources = ["source.null.a", "source.null.b"]

  provisioner "shell-local" {
    only   = ["null.a"]
    inline = ["exit 2"]
  }
}
`)
	r := runKiln(t, dir, "build", ".")
	if r.code != 1 {
		t.Fatalf("a failed build: exit %d, want 1\n%s", r.code, r)
	}
	if !strings.Contains(r.stdout, `provisioner "shell-local" (fail.pkr.hcl:13)`) {
		t.Errorf("the error does not name the block at fail.pkr.hcl:13:\n%s", r)
	}
	if !strings.Contains(r.stdout, "--> null.b: succeeded") {
		t.Errorf("the other build did not succeed:\n%s", r)
	}
	if r := runKiln(t, dir, "build", "-only=null.b", "."); r.code != 0 {
		t.Errorf("-only=null.b: exit %d, want 0\n%s", r.code, r)
	}
	if r := runKiln(t, dir, "build", "-except", "null.a", "."); r.code != 0 {
		t.Errorf("-except null.a: exit %d, want 0\n%s", r.code, r)
	}

	writeFile(t, dir, "fail.pkr.hcl", "source \"null\" \"a\" {\n  communicator = 3\n  bogus = true\n}\n")
	if r := runKiln(t, dir, "build", "."); r.code != 2 || !strings.Contains(r.stderr, "bogus") {
		t.Errorf("a template error: exit %d, want 2 and the error on stderr\n%s", r.code, r)
	}
	if r := runKiln(t, dir, "build", "-on-error=explode", "."); r.code != 2 || !strings.Contains(r.stderr, "-on-error") {
		t.Errorf("a bad flag value: exit %d, want 2\n%s", r.code, r)
	}
	if r := runKiln(t, dir, "build"); r.code != 2 {
		t.Errorf("no PATH: exit %d, want 2\n%s", r.code, r)
	}
}

// TestBuildInterrupt sends SIGINT to kiln's process group in the middle of a
// build, as Ctrl-C in a terminal does: kiln must cancel, report the build as
// cancelled, and exit 130.
func TestBuildInterrupt(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		lines := interruptBuild(t, `"line":"started"`, "-json")
		evs := events(t, strings.Join(lines, "\n")+"\n")
		var cancelling bool
		for _, m := range ofType(evs, "message") {
			cancelling = cancelling || strings.Contains(fmt.Sprint(m["text"]), "Cancelling")
		}
		if !cancelling {
			t.Errorf("no Cancelling message in the event stream")
		}
		fin := ofType(evs, "build.finished")
		if len(fin) != 1 || fin[0]["cancelled"] != true {
			t.Errorf("build.finished events %v, want one with cancelled=true", fin)
		}
		if len(ofType(evs, "run.finished")) != 1 {
			t.Errorf("no run.finished event after the interrupt")
		}
	})
	t.Run("text", func(t *testing.T) {
		out := strings.Join(interruptBuild(t, "null.host: started"), "\n")
		for _, want := range []string{
			"==> Cancelling, cleaning up",
			`==> null.host: provisioner "shell" (slow.pkr.hcl:`, // its step…
			") cancelled after ",                                // …reported as cancelled
			"--> null.host: cancelled after ",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

// interruptBuild runs a build whose provisioner sleeps, interrupts it once
// the line matching started appears on stdout, checks that kiln exits 130 and
// that the provisioner did not run to its end, and returns kiln's stdout.
func interruptBuild(t *testing.T, started string, flags ...string) []string {
	sshd := testsshd.Start(t)
	dir := t.TempDir()
	out := t.TempDir()
	writeFile(t, dir, "slow.pkr.hcl", hostSource(sshd)+fmt.Sprintf(`
build {
  sources = ["source.null.host"]

  provisioner "shell" {
    inline = ["echo started", "sleep 20", "touch %[1]s/finished"]
  }
}
`, out))
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	cmd := startKiln(t, dir, pw, &stderr, append(append([]string{"build"}, flags...), ".")...)
	var lines []string
	seen := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), started) {
				close(seen)
			}
		}
	}()
	select {
	case <-seen:
	case <-time.After(30 * time.Second):
		t.Fatalf("the provisioner did not start; stderr:\n%s", stderr.String())
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait(); pw.Close() }()
	var err error
	select {
	case err = <-waited:
	case <-time.After(15 * time.Second):
		t.Fatalf("kiln did not exit within 15 s of SIGINT")
	}
	<-scanned
	code := 0
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		code = ee.ExitCode()
	}
	if code != 130 {
		t.Errorf("exit code %d after SIGINT, want 130; stderr:\n%s", code, stderr.String())
	}
	t.Logf("kiln exited %s after SIGINT", time.Since(t0).Round(time.Millisecond))
	if _, err := os.Stat(filepath.Join(out, "finished")); err == nil {
		t.Errorf("the provisioner ran to its end despite the interrupt")
	}
	return lines
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
)

// helperSpec is what TestHelperBuild builds, as JSON in $KILN_QEMU_HELPER.
type helperSpec struct {
	Image, Out, Tmp, Journal string
}

// helperReady is the line the helper prints once qemu runs.
const helperReady = "kiln-helper: qemu started"

// TestHelperBuild is not a test: run by TestCleanAfterKill as a child
// process, it starts a qemu build, says so on stdout once qemu runs, and
// waits there to be killed.
func TestHelperBuild(t *testing.T) {
	raw := os.Getenv("KILN_QEMU_HELPER")
	if raw == "" {
		return
	}
	var h helperSpec
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		t.Fatal(err)
	}
	b := newBuilder(t, sourceBody(h.Image, h.Out, `iso_checksum = "none"`+"\n"+`accelerator = "tcg"`))
	b.tmpRoot, b.journalDir = h.Tmp, h.Journal
	sink := event.SinkFunc(func(e event.Event) {
		if s, ok := e.(*event.StepStarted); ok && s.Step == "connect" {
			os.Stdout.WriteString(helperReady + "\n")
			time.Sleep(time.Hour)
		}
	})
	b.Run(context.Background(), &builder.Env{Info: builder.Info{SourceName: "x", ID: "killed"}, Events: sink}, noHook(t))
	t.Fatal("the build ended before it was killed")
}

// TestCleanAfterKill SIGKILLs a process running a qemu build once qemu
// runs, then checks that Clean lists (dry run) and removes what it left,
// and leaves a live build's resources alone.
func TestCleanAfterKill(t *testing.T) {
	vmTools(t)
	work := t.TempDir()
	h := helperSpec{Image: blankImage(t), Out: filepath.Join(work, "out"), Tmp: t.TempDir(), Journal: t.TempDir()}
	spec, _ := json.Marshal(h)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBuild$")
	// The helper's own test directories go where this test removes them.
	cmd.Env = append(os.Environ(), "KILN_QEMU_HELPER="+string(spec), "TMPDIR="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != helperReady {
	}
	if sc.Text() != helperReady {
		cmd.Wait()
		t.Fatal("the helper build ended before qemu started")
	}

	// While qemu runs, the host key is on disk only inside qemu's open CD.
	temps, _ := filepath.Glob(filepath.Join(h.Tmp, tempPrefix+"*"))
	if len(temps) != 1 {
		t.Fatalf("temporary directories %v, want one", temps)
	}
	if st, err := os.Stat(temps[0]); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("temporary directory mode %v, %v; want 0700", st.Mode(), err)
	}
	for _, name := range []string{"seed", "cd", "seed.iso", "cd.iso"} {
		if _, err := os.Stat(filepath.Join(temps[0], name)); err == nil {
			t.Errorf("%s is still on disk once qemu runs: it holds the build's host private key", name)
		}
	}
	jf := readOneJournal(t, h.Journal)
	var qemuProc *process
	for _, r := range jf.doc.Resources {
		if r.Kind == kindProcess {
			qemuProc = r.Proc
		}
	}
	if qemuProc == nil || !qemuProc.running() {
		t.Fatalf("journal %+v does not record the running qemu", jf.doc)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// qemu dies with its parent (Pdeathsig); wait until it has.
	for deadline := time.Now().Add(30 * time.Second); qemuProc.running(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("qemu %d outlived the killed build", qemuProc.PID)
		}
	}
	stages, _ := filepath.Glob(filepath.Join(work, ".out"+stageMarker+"*"))
	if len(stages) != 1 {
		t.Fatalf("staging directories %v, want the one the killed build left", stages)
	}

	// A live build (this process) with a temporary directory of its own.
	live, err := openJournal(h.Journal, "live")
	if err != nil {
		t.Fatal(err)
	}
	liveDir := filepath.Join(h.Tmp, tempPrefix+"live")
	if err := live.add(resource{Kind: kindTempDir, Path: liveDir}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(liveDir, 0o700); err != nil {
		t.Fatal(err)
	}

	want := []string{kindStageDir + " " + stages[0] + " (build killed)", kindTempDir + " " + temps[0] + " (build killed)"}
	rec := &eventtest.Recorder{}
	rep, err := Clean(context.Background(), CleanOptions{DryRun: true, Dir: h.Journal, Events: rec})
	if err != nil {
		t.Fatal(err)
	}
	if got := leftoverNames(rep.Removed); !slices.Equal(got, want) {
		t.Errorf("dry run lists %v, want %v", got, want)
	}
	if !slices.Equal(rep.LiveBuilds, []string{"live"}) {
		t.Errorf("live builds %v, want [live]", rep.LiveBuilds)
	}
	if msgs := rec.Messages(); !anyContains(msgs, "would remove "+kindTempDir) {
		t.Errorf("dry run messages %v", msgs)
	}
	for _, p := range append([]string{jf.path, liveDir}, stages[0], temps[0]) {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("dry run removed %s", p)
		}
	}

	rep, err = Clean(context.Background(), CleanOptions{Dir: h.Journal})
	if err != nil {
		t.Fatal(err)
	}
	if got := leftoverNames(rep.Removed); !slices.Equal(got, want) {
		t.Errorf("Clean removed %v, want %v", got, want)
	}
	for _, p := range []string{jf.path, stages[0], temps[0]} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there after Clean (%v)", p, err)
		}
	}
	if !slices.Equal(rep.JournalsRemoved, []string{jf.path}) {
		t.Errorf("journals removed %v, want %s", rep.JournalsRemoved, jf.path)
	}
	if _, err := os.Stat(liveDir); err != nil {
		t.Errorf("Clean touched the live build's directory: %v", err)
	}
	if procs := qemuProcesses(t, h.Tmp); len(procs) > 0 {
		t.Errorf("qemu still running: %v", procs)
	}
}

// TestCleanKillsOrphanedQEMU checks that a process a dead build recorded is
// killed (with its process group) only while it is the process recorded:
// one whose start time differs, as a reused pid's does, is left alone.
func TestCleanKillsOrphanedQEMU(t *testing.T) {
	dir := t.TempDir()
	orphan := startSleep(t)
	other := startSleep(t)
	j, err := openJournal(dir, "dead")
	if err != nil {
		t.Fatal(err)
	}
	j.doc.Owner.PID = deadPID(t)
	p, err := processOf(orphan.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	reused, err := processOf(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	reused.Start++ // the recorded process ended and its pid went to another
	tmp := filepath.Join(t.TempDir(), tempPrefix+"dead")
	os.Mkdir(tmp, 0o700)
	for _, r := range []resource{{Kind: kindTempDir, Path: tmp}, {Kind: kindProcess, Proc: &p}, {Kind: kindProcess, Proc: &reused}} {
		if err := j.add(r); err != nil {
			t.Fatal(err)
		}
	}

	rep, err := Clean(context.Background(), CleanOptions{DryRun: true, Dir: dir})
	if err != nil || len(rep.Removed) != 2 || rep.Removed[0].Kind != kindProcess || rep.Removed[0].PID != p.PID {
		t.Fatalf("dry run = %+v, %v; want the orphan listed first, then the directory", rep, err)
	}
	if !p.running() {
		t.Fatal("the dry run killed the orphan")
	}
	rep, err = Clean(context.Background(), CleanOptions{Dir: dir})
	if err != nil || len(rep.Removed) != 2 {
		t.Fatalf("Clean = %+v, %v", rep, err)
	}
	if err := orphan.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("the orphan ended with %v, want killed", err)
	}
	if err := syscall.Kill(other.Process.Pid, 0); err != nil {
		t.Errorf("the process that reused a recorded pid was killed: %v", err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary directory still there: %v", err)
	}
}

// TestCleanRefusesOtherPaths checks that a journal naming a directory kiln
// would not have made (a damaged or forged journal) removes nothing.
func TestCleanRefusesOtherPaths(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir, "dead")
	if err != nil {
		t.Fatal(err)
	}
	j.doc.Owner.PID = deadPID(t)
	precious := t.TempDir()
	if err := j.add(resource{Kind: kindTempDir, Path: precious}); err != nil {
		t.Fatal(err)
	}
	rep, err := Clean(context.Background(), CleanOptions{Dir: dir})
	if err == nil || len(rep.Failed) != 1 || len(rep.JournalsRemoved) != 0 {
		t.Errorf("Clean = %+v, %v; want one failure and the journal kept", rep, err)
	}
	if _, err := os.Stat(precious); err != nil {
		t.Errorf("Clean removed %s: %v", precious, err)
	}
}

// TestJournalEmptyAfterBuildSteps checks that a resource recorded and then
// done leaves no journal file behind, and one not done keeps it.
func TestJournalEmptyAfterBuildSteps(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir, "b1")
	if err != nil {
		t.Fatal(err)
	}
	r := resource{Kind: kindStageDir, Path: "/x/.out.kiln-1"}
	if err := j.add(r); err != nil {
		t.Fatal(err)
	}
	if jf := readOneJournal(t, dir); len(jf.doc.Resources) != 1 || !jf.alive() {
		t.Fatalf("journal %+v: want one resource, written by a live process", jf.doc)
	}
	if err := j.done(r); err != nil {
		t.Fatal(err)
	}
	if err := j.close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("journal directory holds %v after a clean build", left)
	}
}

func readOneJournal(t *testing.T, dir string) *journalFile {
	t.Helper()
	js, err := readJournals(dir)
	if err != nil || len(js) != 1 {
		t.Fatalf("journals in %s: %v, %v; want one", dir, js, err)
	}
	return js[0]
}

func leftoverNames(ls []Leftover) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.String())
	}
	slices.Sort(out)
	return out
}

// startSleep starts a process in a process group of its own, as qemu runs,
// killed at the end of the test.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// deadPID returns the pid of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

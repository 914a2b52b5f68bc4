package manifest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/postprocessor"
)

// TestMain doubles as a helper process for the cross-process test.
func TestMain(m *testing.M) {
	if path := os.Getenv("KILN_MANIFEST_HELPER"); path != "" {
		n, _ := strconv.Atoi(os.Getenv("KILN_MANIFEST_N"))
		for i := range n {
			b := Build{Name: fmt.Sprintf("%s-%d", os.Getenv("KILN_MANIFEST_ID"), i), BuilderType: "null"}
			if err := Append(context.Background(), path, b, "run-1", false); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type fileArtifact struct {
	id    string
	files []string
}

func (a *fileArtifact) BuilderType() string { return "qemu" }
func (a *fileArtifact) ID() string          { return a.id }
func (a *fileArtifact) Files() []string     { return a.files }
func (a *fileArtifact) String() string      { return a.id }

func newPP(t *testing.T, src string) postprocessor.PostProcessor {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	pp, diags := New(f.Body, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return pp
}

func ppEnv(name, runID string, force bool) *postprocessor.Env {
	return &postprocessor.Env{
		Info:   builder.Info{Name: "web.qemu." + name, Type: "qemu", SourceName: name, RunID: runID},
		Events: event.Discard,
		Force:  force,
	}
}

func readRaw(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest is not valid JSON: %v\n%s", err, raw)
	}
	return m
}

func TestShapeMatchesPacker(t *testing.T) {
	dir := t.TempDir()
	disk := filepath.Join(dir, "out", "disk.qcow2")
	os.MkdirAll(filepath.Dir(disk), 0o755)
	os.WriteFile(disk, make([]byte, 1234), 0o644)
	out := filepath.Join(dir, "m.json")

	pp := newPP(t, `
output = "`+out+`"
strip_path = true
custom_data = { team = "web", built = "{{ .BuildName }}/{{ .BuilderType }}" }
`)
	in := &fileArtifact{id: "disk", files: []string{disk}}
	got, keep, err := pp.PostProcess(context.Background(), ppEnv("box", "run-1", false), in)
	if err != nil || got != in || !keep {
		t.Fatalf("PostProcess = %v, %v, %v; want the input, kept", got, keep, err)
	}
	m := readRaw(t, out)
	if m["last_run_uuid"] != "run-1" {
		t.Errorf("last_run_uuid = %v", m["last_run_uuid"])
	}
	builds := m["builds"].([]any)
	b := builds[0].(map[string]any)
	for _, k := range []string{"name", "builder_type", "build_time", "files", "artifact_id", "packer_run_uuid", "custom_data"} {
		if _, ok := b[k]; !ok {
			t.Errorf("build lacks %q: %v", k, b)
		}
	}
	if len(b) != 7 {
		t.Errorf("build has %d keys, want 7: %v", len(b), b)
	}
	if b["name"] != "box" || b["builder_type"] != "qemu" || b["artifact_id"] != "disk" || b["packer_run_uuid"] != "run-1" {
		t.Errorf("build = %v", b)
	}
	files := b["files"].([]any)
	if f := files[0].(map[string]any); f["name"] != "disk.qcow2" || f["size"] != 1234.0 {
		t.Errorf("files = %v, want disk.qcow2 of 1234 bytes (strip_path)", files)
	}
	cd := b["custom_data"].(map[string]any)
	if cd["team"] != "web" || cd["built"] != "box/qemu" {
		t.Errorf("custom_data = %v", cd)
	}

	// strip_time leaves build_time out; a nil artifact (null builder) is
	// recorded as Packer's null builder reports itself.
	out2 := filepath.Join(dir, "null.json")
	pp = newPP(t, `
output = "`+out2+`"
strip_time = true
`)
	if _, _, err := pp.PostProcess(context.Background(), ppEnv("n", "run-1", false), nil); err != nil {
		t.Fatal(err)
	}
	b = readRaw(t, out2)["builds"].([]any)[0].(map[string]any)
	if _, ok := b["build_time"]; ok {
		t.Errorf("strip_time: build_time present: %v", b)
	}
	if b["artifact_id"] != "Null" || b["files"] != nil || b["custom_data"] != nil {
		t.Errorf("null build = %v, want artifact_id Null, files null, custom_data null", b)
	}
}

func TestAppendAndForce(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.json")
	pp := newPP(t, `output = "`+out+`"`)
	ctx := context.Background()
	mustPP := func(name, run string, force bool) {
		t.Helper()
		if _, _, err := pp.PostProcess(ctx, ppEnv(name, run, force), nil); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int { return len(readRaw(t, out)["builds"].([]any)) }
	mustPP("a", "run-1", false)
	mustPP("b", "run-2", false)
	if count() != 2 {
		t.Fatalf("a second run appends: %d builds", count())
	}
	mustPP("c", "run-3", true)
	mustPP("d", "run-3", true)
	if count() != 2 || readRaw(t, out)["last_run_uuid"] != "run-3" {
		t.Fatalf("-force starts afresh once per run: %d builds", count())
	}

	os.WriteFile(out, []byte("{not json"), 0o644)
	if _, _, err := pp.PostProcess(ctx, ppEnv("e", "run-4", false), nil); err == nil {
		t.Fatal("a corrupt manifest must be an error, not overwritten")
	}
}

func TestConcurrentGoroutines(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.json")
	pp := newPP(t, `output = "`+out+`"`)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, _, err := pp.PostProcess(context.Background(), ppEnv(fmt.Sprint("b", i), "run-1", false), nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkBuilds(t, out, n)
	if left, _ := filepath.Glob(out + "*"); len(left) != 1 {
		t.Errorf("files left beside the manifest: %v", left)
	}
}

func TestConcurrentProcesses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.json")
	const procs, each = 6, 10
	var cmds []*exec.Cmd
	for i := range procs {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "KILN_MANIFEST_HELPER="+out, "KILN_MANIFEST_N="+strconv.Itoa(each), "KILN_MANIFEST_ID=p"+strconv.Itoa(i))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	checkBuilds(t, out, procs*each)
}

func checkBuilds(t *testing.T, path string, n int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest is not valid JSON: %v", err)
	}
	seen := map[string]bool{}
	for _, b := range m.Builds {
		if seen[b.Name] {
			t.Errorf("build %s recorded twice", b.Name)
		}
		seen[b.Name] = true
	}
	if len(m.Builds) != n || len(seen) != n {
		t.Errorf("%d builds (%d distinct), want %d", len(m.Builds), len(seen), n)
	}
}

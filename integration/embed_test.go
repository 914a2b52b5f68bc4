package integration

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmbedExample builds examples/embed, the Go program that embeds kiln,
// and runs it on examples/multi: it must build every source and report each
// build with its steps and artifact.
func TestEmbedExample(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go command not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "embed")
	if out, err := exec.Command(gobin, "build", "-o", bin, "github.com/kilnhq/kiln/examples/embed").CombinedOutput(); err != nil {
		t.Fatalf("build examples/embed: %v\n%s", err, out)
	}
	// A copy of the example, so that its output directory lands in a
	// temporary directory.
	dir := t.TempDir()
	for _, name := range []string{"multi.pkr.hcl", "multi.auto.pkrvars.hcl"} {
		writeFile(t, dir, name, readFile(t, filepath.Join(examplesDir, "multi", name)))
	}
	cmd := exec.Command(bin, "-var", "environment=test", dir)
	cmd.Env = kilnEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("embed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{
		"app.null.small: started (null)",
		"app.null.large: large flavour gets the extra tuning step",
		"data.null.db: database configured for test",
		"app.null.small           ",
		"steps: connect ",
		"artifact Null (null)",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("embed output lacks %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "FAILED") {
		t.Errorf("a build failed:\n%s", stdout.String())
	}
	if got := readFile(t, filepath.Join(dir, "output", "test", "small.txt")); !strings.HasPrefix(got, "small for test:") {
		t.Errorf("small.txt = %q", got)
	}
}

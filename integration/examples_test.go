package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/internal/testsshd"
)

// examplesDir is the repository's examples directory.
var examplesDir = filepath.Join("..", "examples")

// TestExamplesValidate runs kiln validate on every template directory in
// examples/ (with each of its *.pkrvars.hcl files that is not auto-loaded,
// in turn), with the default registries: every builder the examples use
// (null, qemu, amazon-ebs) is registered, so none is skipped.
func TestExamplesValidate(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(examplesDir, "*", "*.pkr.hcl"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no example templates found under %s: %v", examplesDir, err)
	}
	seen := map[string]bool{}
	for _, f := range dirs {
		dir := filepath.Dir(f)
		if seen[dir] {
			continue
		}
		seen[dir] = true
		t.Run(filepath.Base(dir), func(t *testing.T) {
			abs, _ := filepath.Abs(dir)
			runs := [][]string{{"validate", abs}}
			varFiles, _ := filepath.Glob(filepath.Join(abs, "*.pkrvars.hcl"))
			for _, vf := range varFiles {
				if !strings.HasSuffix(vf, ".auto.pkrvars.hcl") {
					runs = append(runs, []string{"validate", "-var-file", vf, abs})
				}
			}
			for _, args := range runs {
				r := runKiln(t, t.TempDir(), args...)
				if r.code != 0 || !strings.Contains(r.stdout, "The configuration is valid.") {
					t.Errorf("kiln %v:\n%s", args, r)
				}
				if r.stderr != "" {
					t.Errorf("kiln %v printed diagnostics:\n%s", args, r.stderr)
				}
			}
		})
	}
	if len(seen) < 5 {
		t.Errorf("found %d example directories, want at least 5 (local, aws, hybrid, multi, null)", len(seen))
	}
}

// TestExamplesFormatted checks that kiln fmt would change no example file.
func TestExamplesFormatted(t *testing.T) {
	abs, _ := filepath.Abs(examplesDir)
	r := runKiln(t, t.TempDir(), "fmt", "-check", "-diff", "-recursive", abs)
	if r.code != 0 {
		t.Errorf("examples are not formatted:\n%s", r)
	}
}

// TestExampleNullRuns builds examples/null against the test's sshd: the
// example must work as its comment says, not only validate.
func TestExampleNullRuns(t *testing.T) {
	sshd := testsshd.Start(t)
	dir := t.TempDir()
	for _, name := range []string{"host.pkr.hcl", "files/hello.txt", "files/settings.conf"} {
		writeFile(t, dir, name, readFile(t, filepath.Join(examplesDir, "null", name)))
	}
	work := t.TempDir()
	r := runKiln(t, dir, "build",
		"-var", "host="+sshd.Host,
		"-var", fmt.Sprintf("port=%d", sshd.Port),
		"-var", "username="+sshd.User,
		"-var", "private_key_file="+sshd.ClientKeyFile,
		"-var", "known_hosts_file="+sshd.KnownHostsFile,
		"-var", "work_dir="+work,
		".")
	if r.code != 0 {
		t.Fatalf("examples/null:\n%s", r)
	}
	sums := readFile(t, filepath.Join(dir, "output", "sums.txt"))
	for _, name := range []string{"hello.txt", "settings.conf"} {
		if !strings.Contains(sums, work+"/files/"+name) {
			t.Errorf("sums.txt lacks %s:\n%s", name, sums)
		}
	}
	if !strings.Contains(r.stdout, "    null.host: ") || !strings.Contains(r.stdout, "hello.txt") {
		t.Errorf("the shell-local step did not print the sums:\n%s", r.stdout)
	}
}

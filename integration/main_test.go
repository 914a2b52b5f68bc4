package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kilnBin is the kiln binary TestMain builds.
var kilnBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kiln-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	kilnBin = filepath.Join(dir, "kiln")
	gobin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration tests need the go command to build kiln:", err)
		return 1
	}
	build := exec.Command(gobin, "build", "-o", kilnBin, "github.com/kilnhq/kiln/cmd/kiln")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build kiln: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// result is what a kiln run did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// runKiln runs kiln with args in dir and waits for it (at most two minutes).
func runKiln(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return runKilnEnv(t, dir, kilnEnv(), args...)
}

// runKilnEnv is runKiln with the environment env.
func runKilnEnv(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kilnBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run kiln %v: %v", args, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// kilnEnv is the environment kiln runs in: the test's, without variables
// that would change a template's values.
func kilnEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "PKR_VAR_") || strings.HasPrefix(e, "KILN_VAR_") {
			continue
		}
		env = append(env, e)
	}
	return env
}

// writeFile writes content to dir/name, creating directories.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readFile returns the contents of path, failing the test if it is missing.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("expected file: %v", err)
	}
	return string(b)
}

// events parses -json output: one JSON object per line, each with a type.
func events(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if l == "" {
			t.Fatalf("-json line %d is empty", i+1)
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("-json line %d is not a JSON object: %v\n%s", i+1, err, l)
		}
		if _, ok := e["type"].(string); !ok {
			t.Fatalf("-json line %d has no type: %s", i+1, l)
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e["time"])); err != nil {
			t.Fatalf("-json line %d has no valid time: %s", i+1, l)
		}
		out = append(out, e)
	}
	return out
}

// ofType returns the events of the given type.
func ofType(evs []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, e := range evs {
		if e["type"] == typ {
			out = append(out, e)
		}
	}
	return out
}

// outputLines returns the lines of output events of the given stream.
func outputLines(evs []map[string]any, stream string) []string {
	var out []string
	for _, e := range ofType(evs, "output") {
		if e["stream"] == stream {
			out = append(out, fmt.Sprint(e["line"]))
		}
	}
	return out
}

// treeSums returns the SHA-256 of every regular file under root, by path
// relative to root.
func treeSums(t *testing.T, root string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		sums[rel] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatalf("checksum %s: %v", root, err)
	}
	return sums
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// startKiln starts kiln in its own process group, as a shell starts a
// foreground job, so that a test can interrupt the group as Ctrl-C does.
func startKiln(t *testing.T, dir string, stdout, stderr io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	return startKilnEnv(t, dir, kilnEnv(), stdout, stderr, args...)
}

// startKilnEnv is startKiln with the environment env.
func startKilnEnv(t *testing.T, dir string, env []string, stdout, stderr io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(kilnBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kiln: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	return cmd
}

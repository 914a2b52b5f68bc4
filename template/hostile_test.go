//go:build linux

package template

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostileLoad is what the child process of TestHostileInput loads.
type hostileLoad struct {
	Path     string
	VarFiles []string
	Vars     []string
}

const hostileEnv = "KILN_TEST_HOSTILE_LOAD"

// build is a valid build block for the hostile templates.
const build = "source \"null\" \"a\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.a\"]\n}\n"

// TestHostileInput loads hostile templates, each in a child process (this
// test binary running TestHostileLoadChild) whose address space is capped,
// with a deadline as a guard against hangs. Each must end with a clear error
// naming the file and the reason, a short report, and a bounded peak RSS.
func TestHostileInput(t *testing.T) {
	deep := func(open, inner, closing string) string {
		const levels = 60000
		return strings.Repeat(open, levels) + inner + strings.Repeat(closing, levels)
	}
	tb := int64(1) << 40
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string) hostileLoad
		want  []string
		// maxOut bounds the written diagnostics, in bytes.
		maxOut int
	}{
		{
			name:  "nested brackets",
			setup: file("main.pkr.hcl", "x = "+deep("[", "", "]")),
			want:  []string{"Nesting too deep", "main.pkr.hcl:1:505 nests", "more than 500 levels"},
		},
		{
			name:  "nested blocks",
			setup: file("main.pkr.hcl", deep("b {\n", "", "}\n")),
			want:  []string{"Nesting too deep", "main.pkr.hcl:501:3 nests"},
		},
		{
			name:  "nested parentheses",
			setup: file("main.pkr.hcl", "x = "+deep("(", "1", ")")),
			want:  []string{"Nesting too deep"},
		},
		{
			name:  "nested interpolations",
			setup: file("main.pkr.hcl", "x = "+deep(`"${`, "1", `}"`)),
			want:  []string{"Nesting too deep"},
		},
		{
			name:  "unary operators",
			setup: file("main.pkr.hcl", "x = "+deep("!", "true", "")),
			want:  []string{"Nesting too deep"},
		},
		{
			name:  "conditionals",
			setup: file("main.pkr.hcl", "x = "+deep("true ? 1 : ", "2", "")),
			want:  []string{"Nesting too deep"},
		},
		{
			name:  "nested JSON",
			setup: file("main.pkr.json", `{"x": `+deep("[", "", "]")+"}"),
			want:  []string{"Nesting too deep", "main.pkr.json:1:"},
		},
		{
			name: "nested templatefile",
			setup: func(t *testing.T, dir string) hostileLoad {
				write(t, filepath.Join(dir, "deep.tpl"), deep("${(", "1", ")}"))
				return file("main.pkr.hcl", fmt.Sprintf("locals {\n  x = templatefile(%q, {})\n}\n%s", filepath.Join(dir, "deep.tpl"), build))(t, dir)
			},
			want: []string{"deep.tpl:1:", "more than 500 levels"},
		},
		{
			name: "nested -var value",
			setup: func(t *testing.T, dir string) hostileLoad {
				h := file("main.pkr.hcl", "variable \"x\" {\n  type = list(any)\n}\n"+build)(t, dir)
				h.Vars = []string{"x=" + deep("[", "", "]")}
				return h
			},
			want: []string{`Invalid value for variable "x"`, "more than 500 levels"},
		},
		{
			name: "named pipe in the template directory",
			setup: func(t *testing.T, dir string) hostileLoad {
				write(t, filepath.Join(dir, "a.pkr.hcl"), build)
				mkfifo(t, filepath.Join(dir, "b.pkr.hcl"))
				return hostileLoad{Path: dir}
			},
			want: []string{"b.pkr.hcl is a named pipe, not a regular file"},
		},
		{
			name: "named pipe as a var file",
			setup: func(t *testing.T, dir string) hostileLoad {
				h := file("main.pkr.hcl", build)(t, dir)
				mkfifo(t, filepath.Join(dir, "v.pkrvars.hcl"))
				h.VarFiles = []string{filepath.Join(dir, "v.pkrvars.hcl")}
				return h
			},
			want: []string{"v.pkrvars.hcl is a named pipe, not a regular file"},
		},
		{
			name: "named pipe as an auto var file",
			setup: func(t *testing.T, dir string) hostileLoad {
				write(t, filepath.Join(dir, "a.pkr.hcl"), build)
				mkfifo(t, filepath.Join(dir, "x.auto.pkrvars.hcl"))
				return hostileLoad{Path: dir}
			},
			want: []string{"x.auto.pkrvars.hcl is a named pipe, not a regular file"},
		},
		{
			name: "symlink to /dev/zero as the template",
			setup: func(t *testing.T, dir string) hostileLoad {
				symlink(t, "/dev/zero", filepath.Join(dir, "zero.pkr.hcl"))
				return hostileLoad{Path: filepath.Join(dir, "zero.pkr.hcl")}
			},
			want: []string{"zero.pkr.hcl is a character device, not a regular file"},
		},
		{
			name: "sparse 1 TiB template",
			setup: func(t *testing.T, dir string) hostileLoad {
				sparse(t, filepath.Join(dir, "big.pkr.hcl"), tb)
				return hostileLoad{Path: dir}
			},
			want: []string{"big.pkr.hcl is 1 TiB, more than the 16 MiB limit"},
		},
		{
			name: "sparse 1 TiB var file",
			setup: func(t *testing.T, dir string) hostileLoad {
				h := file("main.pkr.hcl", build)(t, dir)
				sparse(t, filepath.Join(dir, "big.pkrvars.hcl"), tb)
				h.VarFiles = []string{filepath.Join(dir, "big.pkrvars.hcl")}
				return h
			},
			want: []string{"big.pkrvars.hcl is 1 TiB, more than the 16 MiB limit"},
		},
		{
			name:  "file of /dev/zero",
			setup: withData(func(t *testing.T, dir string) { symlink(t, "/dev/zero", filepath.Join(dir, "data", "zero")) }, `file("%s/zero")`),
			want:  []string{"zero is a character device, not a regular file"},
		},
		{
			name:  "file of a sparse 1 TiB file",
			setup: withData(func(t *testing.T, dir string) { sparse(t, filepath.Join(dir, "data", "big"), tb) }, `file("%s/big")`),
			want:  []string{"big is 1 TiB, more than the 64 MiB limit"},
		},
		{
			name:  "filebase64 of a sparse 1 TiB file",
			setup: withData(func(t *testing.T, dir string) { sparse(t, filepath.Join(dir, "data", "big"), tb) }, `filebase64("%s/big")`),
			want:  []string{"big is 1 TiB, more than the 64 MiB limit"},
		},
		{
			name:  "templatefile of a sparse 1 TiB file",
			setup: withData(func(t *testing.T, dir string) { sparse(t, filepath.Join(dir, "data", "big"), tb) }, `templatefile("%s/big", {})`),
			want:  []string{"big is 1 TiB, more than the 64 MiB limit"},
		},
		{
			name: "file of every fileset match",
			setup: withData(func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, "data", "a"), "a")
				sparse(t, filepath.Join(dir, "data", "b"), tb)
				mkfifo(t, filepath.Join(dir, "data", "c"))
			}, `[for f in fileset("%[1]s", "*") : file("%[1]s/${f}")]`),
			want: []string{"b is 1 TiB, more than the 64 MiB limit"},
		},
		{
			name: "file of a named pipe",
			setup: withData(func(t *testing.T, dir string) {
				mkfifo(t, filepath.Join(dir, "data", "p"))
			}, `file("%s/p")`),
			want: []string{"p is a named pipe, not a regular file"},
		},
		{
			name: "var file that is a directory",
			setup: func(t *testing.T, dir string) hostileLoad {
				h := file("main.pkr.hcl", build)(t, dir)
				if err := os.Mkdir(filepath.Join(dir, "vars.pkrvars.hcl"), 0o755); err != nil {
					t.Fatal(err)
				}
				h.VarFiles = []string{filepath.Join(dir, "vars.pkrvars.hcl")}
				return h
			},
			want: []string{"vars.pkrvars.hcl is a directory, not a regular file"},
		},
		{
			name: "symlink loop in the template directory",
			setup: func(t *testing.T, dir string) hostileLoad {
				write(t, filepath.Join(dir, "main.pkr.hcl"), build)
				symlink(t, "loop2.pkr.hcl", filepath.Join(dir, "loop1.pkr.hcl"))
				symlink(t, "loop1.pkr.hcl", filepath.Join(dir, "loop2.pkr.hcl"))
				return hostileLoad{Path: dir}
			},
			want: []string{"loop1.pkr.hcl: too many levels of symbolic links"},
		},
		{
			name: "symlink loop as a var file",
			setup: func(t *testing.T, dir string) hostileLoad {
				h := file("main.pkr.hcl", build)(t, dir)
				symlink(t, "v.pkrvars.hcl", filepath.Join(dir, "v.pkrvars.hcl"))
				h.VarFiles = []string{filepath.Join(dir, "v.pkrvars.hcl")}
				return h
			},
			want: []string{"v.pkrvars.hcl: too many levels of symbolic links"},
		},
		{
			name:   "unterminated heredoc",
			setup:  file("main.pkr.hcl", "x = <<EOT\n"+strings.Repeat("a line of text\n", 100000)),
			want:   []string{"Unterminated heredoc", "main.pkr.hcl line 1:", "   1: x = <<EOT\n\n", "main.pkr.hcl:1:5 has no line EOT"},
			maxOut: 1000,
		},
		{
			name:   "NUL bytes",
			setup:  file("main.pkr.hcl", strings.Repeat("\x00", 1000)),
			want:   []string{"And 9", "more problems"},
			maxOut: 64 << 10,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			h := c.setup(t, dir)
			out, n, rss := runHostileLoad(t, h)
			t.Logf("%d diagnostics, %d bytes, peak RSS %d MiB:\n%s", n, len(out), rss>>20, head(out))
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("the report does not say %q:\n%s", w, head(out))
				}
			}
			if n == 0 || n > MaxDiagnostics {
				t.Errorf("%d diagnostics, want 1 to %d", n, MaxDiagnostics)
			}
			maxOut := c.maxOut
			if maxOut == 0 {
				maxOut = 4096
			}
			if len(out) > maxOut {
				t.Errorf("the report is %d bytes, more than %d:\n%s", len(out), maxOut, head(out))
			}
			if rss > 200<<20 {
				t.Errorf("peak RSS %d MiB, more than 200 MiB", rss>>20)
			}
		})
	}
}

// TestHostileLoadChild is the child process of TestHostileInput: it caps its
// address space 768 MiB above what it has, loads what hostileEnv names and
// writes the number of diagnostics on one line, then the diagnostics.
func TestHostileLoadChild(t *testing.T) {
	spec := os.Getenv(hostileEnv)
	if spec == "" {
		t.Skip("run by TestHostileInput")
	}
	var h hostileLoad
	if err := json.Unmarshal([]byte(spec), &h); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var vmKB uint64
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmSize:"); ok {
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), "kB"), &vmKB)
		}
	}
	if vmKB == 0 {
		t.Fatal("no VmSize in /proc/self/status")
	}
	lim := vmKB<<10 + 768<<20
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: lim, Max: lim}); err != nil {
		t.Fatal(err)
	}
	tpl, diags := Load(h.Path, WithNow(testNow), WithEnviron(nil), WithVarFiles(h.VarFiles...), WithVars(h.Vars...))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d diagnostics\n", len(diags))
	if err := tpl.WriteDiagnostics(&b, diags, false, 0); err != nil {
		t.Fatal(err)
	}
	os.Stdout.Write(b.Bytes())
}

// runHostileLoad loads h in a child process and returns its report, its
// number of diagnostics and its peak RSS in bytes.
func runHostileLoad(t *testing.T, h hostileLoad) (report string, n int, rss int64) {
	t.Helper()
	spec, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	// A guard against a hang (a blocked open of a pipe), not a timing
	// assertion.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHostileLoadChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), hostileEnv+"="+string(spec), "GOMEMLIMIT=150MiB")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("the load did not end within 5 s (it hangs)")
	}
	if err != nil {
		t.Fatalf("the load failed: %v\n%s%s", err, head(stdout.String()), head(stderr.String()))
	}
	out, _ := strings.CutSuffix(stdout.String(), "PASS\n")
	first, report, _ := strings.Cut(out, "\n")
	if _, err := fmt.Sscanf(first, "%d diagnostics", &n); err != nil {
		t.Fatalf("no count of diagnostics in %q", head(out))
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10
	}
	return report, n, rss
}

// file sets up a template file name holding src and loads the directory.
func file(name, src string) func(t *testing.T, dir string) hostileLoad {
	return func(t *testing.T, dir string) hostileLoad {
		write(t, filepath.Join(dir, name), src)
		return hostileLoad{Path: dir}
	}
}

// withData makes a data directory, prepares it and loads a template with a
// local whose expression is format with the directory's path.
func withData(prepare func(t *testing.T, dir string), format string) func(t *testing.T, dir string) hostileLoad {
	return func(t *testing.T, dir string) hostileLoad {
		data := filepath.Join(dir, "data")
		if err := os.Mkdir(data, 0o755); err != nil {
			t.Fatal(err)
		}
		prepare(t, dir)
		src := fmt.Sprintf("locals {\n  x = %s\n}\n", fmt.Sprintf(format, data)) + build
		return file("main.pkr.hcl", src)(t, dir)
	}
}

func write(t *testing.T, path, src string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// sparse makes a sparse file of size bytes, which takes no disk space.
func sparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// head returns the first 2,000 bytes of s.
func head(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

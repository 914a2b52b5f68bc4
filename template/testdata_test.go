package template

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// testNow is the run timestamp every test load uses.
var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// embedded is what kiln's façade passes to WithEmbeddedPlugins.
var embedded = []string{"github.com/hashicorp/amazon", "github.com/hashicorp/qemu"}

// testOptions returns the options every testdata folder is loaded with, plus
// the extra ones some folders need: a folder whose name ends in -syntax-only
// is loaded with WithSyntaxOnly.
func testOptions(dir string) []LoadOption {
	opts := []LoadOption{
		WithNow(testNow),
		WithEmbeddedPlugins(embedded...),
		WithEnviron([]string{"KILN_TEST_HOME=/home/kiln"}),
	}
	if filepath.Base(dir) == "valid-precedence" {
		opts = append(opts, precedenceOptions(dir)...)
	}
	if strings.HasSuffix(dir, "-syntax-only") {
		opts = append(opts, WithSyntaxOnly())
	}
	return opts
}

func precedenceOptions(dir string) []LoadOption {
	return []LoadOption{
		WithEnviron([]string{
			"PKR_VAR_from_env=env", "PKR_VAR_from_auto=env", "PKR_VAR_from_file1=env",
			"PKR_VAR_from_file2=env", "PKR_VAR_from_flag=env",
			"PKR_VAR_numbers=[1, 2]", "KILN_VAR_count=7", "PKR_VAR_count=3",
			"PKR_VAR_undeclared=ignored",
		}),
		WithVarFiles(filepath.Join(dir, "extra", "one.pkrvars.hcl"), filepath.Join(dir, "extra", "two.pkrvars.hcl")),
		WithVars("from_flag=flag1", "from_flag=flag2"),
	}
}

// marker is an expected diagnostic: "# ERROR: text" or "# WARNING: text" at
// the end of a line.
type marker struct {
	file     string
	line     int
	severity hcl.DiagnosticSeverity
	text     string
	matched  bool
}

var markerRE = regexp.MustCompile(`#\s*(ERROR|WARNING):\s*(.+)$`)

func readMarkers(t *testing.T, dir string) []*marker {
	t.Helper()
	var out []*marker
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".hcl") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			m := markerRE.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			sev := hcl.DiagError
			if m[1] == "WARNING" {
				sev = hcl.DiagWarning
			}
			out = append(out, &marker{file: path, line: n, severity: sev, text: strings.TrimSpace(m[2])})
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func describe(d *hcl.Diagnostic) string {
	sev := "error"
	if d.Severity == hcl.DiagWarning {
		sev = "warning"
	}
	where := "(no range)"
	if d.Subject != nil {
		where = fmt.Sprintf("%s:%d", d.Subject.Filename, d.Subject.Start.Line)
	}
	return fmt.Sprintf("%s %s: %s; %s", where, sev, d.Summary, d.Detail)
}

// TestTestdata loads every testdata/valid-* and testdata/invalid-* folder and
// checks that each marked diagnostic is reported on its line and that no
// other diagnostic is.
func TestTestdata(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*-*")
	if err != nil {
		t.Fatal(err)
	}
	var valid, invalid int
	for _, dir := range dirs {
		name := filepath.Base(dir)
		switch {
		case strings.HasPrefix(name, "valid-"):
			valid++
		case strings.HasPrefix(name, "invalid-"):
			invalid++
		default:
			continue
		}
		t.Run(name, func(t *testing.T) {
			markers := readMarkers(t, dir)
			if strings.HasPrefix(name, "invalid-") && len(markers) == 0 {
				t.Fatal("an invalid-* folder must mark at least one expected diagnostic")
			}
			tpl, diags := Load(dir, testOptions(dir)...)
			if tpl == nil || len(tpl.Files) == 0 {
				t.Fatal("Load returned no files")
			}
			for _, d := range diags {
				if !matchMarker(d, markers) {
					t.Errorf("unexpected %s", describe(d))
				}
			}
			for _, m := range markers {
				if !m.matched {
					t.Errorf("%s:%d: expected diagnostic containing %q was not reported", m.file, m.line, m.text)
				}
			}
		})
	}
	if valid == 0 || invalid == 0 {
		t.Fatalf("found %d valid and %d invalid folders", valid, invalid)
	}
}

func matchMarker(d *hcl.Diagnostic, markers []*marker) bool {
	if d.Subject == nil {
		return false
	}
	for _, m := range markers {
		if m.line == d.Subject.Start.Line && m.severity == d.Severity &&
			filepath.Clean(m.file) == filepath.Clean(d.Subject.Filename) &&
			(strings.Contains(d.Summary, m.text) || strings.Contains(d.Detail, m.text)) {
			m.matched = true
			return true
		}
	}
	return false
}

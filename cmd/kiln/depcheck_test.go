package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/internal/testenv"
)

// TestFacadeOnly keeps the kiln command on the façade: it imports no
// component builder (builder/...) and no internal package directly; the
// root package kiln wires those in.
func TestFacadeOnly(t *testing.T) {
	gobin := testenv.Tool(t, "go", "/usr/local/go/bin")
	out, err := exec.Command(gobin, "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := strings.Fields(string(out))
	if !slices.Contains(imports, "github.com/kilnhq/kiln") {
		t.Fatalf("go list did not list the façade among the imports %v", imports)
	}
	for _, p := range imports {
		for _, forbidden := range []string{"github.com/kilnhq/kiln/builder/", "github.com/kilnhq/kiln/internal/"} {
			if strings.HasPrefix(p, forbidden) {
				t.Errorf("kiln imports %s directly; call it through the façade (package kiln)", p)
			}
		}
	}
}

// TestDeps keeps the kiln binary free of test machinery: no testing
// packages, no httptest, and none of kiln's test harnesses (testenv,
// testsshd, testmoto, conformance suites, the in-memory communicator).
func TestDeps(t *testing.T) {
	gobin := testenv.Tool(t, "go", "/usr/local/go/bin")
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %v", deps)
	}
	for _, d := range deps {
		base := d[strings.LastIndex(d, "/")+1:]
		switch {
		case d == "testing", strings.HasPrefix(d, "testing/"),
			d == "net/http/httptest",
			strings.HasPrefix(d, "github.com/kilnhq/kiln/") && (strings.HasPrefix(base, "test") || strings.HasSuffix(base, "test")),
			d == "github.com/kilnhq/kiln/internal/localcomm":
			t.Errorf("kiln imports %s", d)
		}
	}
}

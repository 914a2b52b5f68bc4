package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -syntax-only says that only the syntax was checked, and a template
// without a build block fails a full validation.
func TestValidateSyntaxOnly(t *testing.T) {
	dir := t.TempDir()
	src := "source \"null\" \"a\" {\n  communicator = \"none\"\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd("validate", "-syntax-only", dir)
	if code != 0 || out != "The configuration is syntactically valid.\n" {
		t.Errorf("-syntax-only: exit %d, out %q\n%s", code, out, errOut)
	}
	code, out, errOut = runCmd("validate", dir)
	if code != 1 || out != "" || !strings.Contains(errOut, "Missing build block") {
		t.Errorf("no build block: exit %d, out %q\n%s", code, out, errOut)
	}
}

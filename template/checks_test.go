package template

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// A -var for an undeclared variable is an error with a "did you mean" and
// the variable block to add.
func TestUndeclaredVarFlag(t *testing.T) {
	dir := filepath.Join("testdata", "valid-basic")
	_, diags := Load(dir, append(testOptions(dir), WithVars("regoin=eu-west-1"))...)
	if len(diags) != 1 || diags[0].Severity != hcl.DiagError ||
		!strings.Contains(diags[0].Detail, `did you mean "region"?`) ||
		!strings.Contains(diags[0].Detail, `variable "regoin" { type = string }`) {
		t.Errorf("diagnostics %v", diags)
	}
}

// The checks of this change report in source order, across files and
// whichever phase of loading finds them.
func TestNewChecksInSourceOrder(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a.pkr.hcl": `packer {
  required_plugins {
    azure = {
      source = "github.com/hashicorp/azure"
    }
  }
}

data "hcp-packer-image" "i" {
}
`,
		"b.pkr.hcl": `source "null" "x" {
  communicator = "none"
}

build {
  hcp_packer_registry {
    bucket_name = "x"
  }
  sources = ["sources.null.x"]
}

hcp_packer_registry {
  description = "d"
}
`,
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, diags := Load(dir, testOptions(dir)...)
	type at struct {
		file    string
		line    int
		summary string
	}
	var got []at
	for _, d := range diags {
		got = append(got, at{filepath.Base(d.Subject.Filename), d.Subject.Start.Line, d.Summary})
	}
	want := []at{
		{"a.pkr.hcl", 3, "kiln lacks the plugin github.com/hashicorp/azure"},
		{"a.pkr.hcl", 9, "HCP Packer data sources are not supported"},
		{"b.pkr.hcl", 6, "kiln does not publish to HCP Packer"},
		{"b.pkr.hcl", 7, "Invalid bucket_name"},
		{"b.pkr.hcl", 12, "hcp_packer_registry both at top level and in a build"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("diagnostics\n%v\nwant\n%v", got, want)
	}
}

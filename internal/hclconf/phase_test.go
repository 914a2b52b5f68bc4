package hclconf

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

type phaseConfig struct {
	Name   string   `hcl:"name,optional"`
	Inline []string `hcl:"inline,optional"`
	Steps  []struct {
		Cmd string `hcl:"cmd"`
	} `hcl:"step,block"`
}

const phaseSrc = `
name   = "fixed"
inline = ["echo ${local.body}"]
dynamic "step" {
  for_each = ["a"]
  content {
    cmd = "${step.value}-${build.ID}"
  }
}
`

// phaseContext has local.body unknown because of a failed data source, and
// build.ID unknown without a reason.
func phaseContext() *hcl.EvalContext {
	failed := cty.UnknownVal(cty.String).Mark(NotKnown("it depends on data.http.x, which failed"))
	return &hcl.EvalContext{Variables: map[string]cty.Value{
		"local": cty.ObjectVal(map[string]cty.Value{"body": failed}),
		"build": cty.UnknownVal(cty.Object(map[string]cty.Type{"ID": cty.String})),
	}}
}

func parsePhase(t *testing.T) hcl.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(phaseSrc), "p.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return f.Body
}

// Validating leaves unknown values unset, without a word.
func TestDecodeUnknownWhenValidating(t *testing.T) {
	var c phaseConfig
	if diags := Decode(parsePhase(t), phaseContext(), &c); len(diags) > 0 {
		t.Fatalf("validation with unknown values: %v", diags)
	}
	if c.Name != "fixed" || c.Inline != nil || len(c.Steps) != 1 || c.Steps[0].Cmd != "" {
		t.Errorf("decoded %+v, want only the known name", c)
	}
}

// Running, a value still unknown is an error at its attribute, saying why.
func TestDecodeUnknownWhenRunning(t *testing.T) {
	ectx := ForRun(phaseContext())
	if !Running(ectx) || Running(phaseContext()) || !Running(ectx.NewChild()) {
		t.Fatal("Running does not tell a context from ForRun (or its child) from another")
	}
	var c phaseConfig
	diags := Decode(parsePhase(t), ectx, &c)
	want := map[int]string{
		3: "inline is not known when the build runs: it depends on data.http.x, which failed.",
		7: "cmd is not known when the build runs: it depends on build.ID, which is not known.",
	}
	if len(diags) != len(want) {
		t.Fatalf("%d diagnostics, want %d: %v", len(diags), len(want), diags)
	}
	for _, d := range diags {
		if d.Severity != hcl.DiagError || d.Subject == nil || want[d.Subject.Start.Line] != d.Detail {
			t.Errorf("diagnostic at %v: %s: %s", d.Subject, d.Summary, d.Detail)
		}
		if !strings.HasPrefix(d.Summary, "Unknown value for ") {
			t.Errorf("summary %q", d.Summary)
		}
	}
	if c.Name != "fixed" {
		t.Errorf("known name not decoded: %+v", c)
	}
}

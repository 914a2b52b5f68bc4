package template

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func eval(t *testing.T, tpl *Template, b *Build, s *BuildSource, data map[string]string, src string) (cty.Value, error) {
	t.Helper()
	expr, _ := parseExpr(t, src)
	v, diags := expr.Value(tpl.EvalContext(b, s, data))
	if diags.HasErrors() {
		return v, diags
	}
	return v, nil
}

func TestEvalContext(t *testing.T) {
	tpl := load(t, "valid-overrides")
	b := tpl.Builds[0]
	s := b.Sources[0]
	known := map[string]string{
		`"${source.type}.${source.name}"`: "null.other",
		`build.ID`:                        "i-1",
		`path.root`:                       filepath.Join("testdata", "valid-overrides"),
		`packer.version`:                  PackerVersion,
	}
	for src, want := range known {
		v, err := eval(t, tpl, b, s, map[string]string{"ID": "i-1"}, src)
		if err != nil || str(t, v) != want {
			t.Errorf("%s = %#v, %v; want %q", src, v, err, want)
		}
	}
	// Without a source or build data, those are unknown: validation passes.
	for _, src := range []string{`source.name`, `build.Host`, `"x-${build.anything}"`} {
		v, err := eval(t, tpl, b, nil, nil, src)
		if err != nil || v.IsKnown() {
			t.Errorf("%s = %#v, %v; want unknown", src, v, err)
		}
	}
	// ...but a wrong attribute of source is still an error.
	if _, err := eval(t, tpl, b, nil, nil, `source.nmae`); err == nil {
		t.Error("source.nmae evaluated")
	}
	if _, err := eval(t, tpl, b, s, map[string]string{}, `build.ID`); err == nil {
		t.Error("build.ID without such data evaluated")
	}
	if _, err := eval(t, tpl, b, s, nil, `env("HOME")`); err == nil || !strings.Contains(err.Error(), "only be used in the default value") {
		t.Errorf("env() in a component: %v", err)
	}
	// A zero Template still gives a working context.
	v, err := eval(t, &Template{}, nil, nil, nil, `upper("x")`)
	if err != nil || str(t, v) != "X" {
		t.Errorf("zero template: %#v, %v", v, err)
	}
}

func TestLoadPaths(t *testing.T) {
	// A single file: path.root is its directory, auto var files are not read.
	file := filepath.Join("testdata", "valid-precedence", "variables.pkr.hcl")
	tpl, diags := Load(file, WithEnviron(nil))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if tpl.Root != filepath.Dir(file) || str(t, tpl.Variables["from_auto"].Value) != "default" {
		t.Errorf("root %q, from_auto %#v", tpl.Root, tpl.Variables["from_auto"].Value)
	}

	if _, diags := Load(filepath.Join("testdata", "nowhere")); !diags.HasErrors() {
		t.Error("a missing path loaded")
	}
	empty := t.TempDir()
	if _, diags := Load(empty); !diags.HasErrors() || !strings.Contains(diags.Error(), "No template files") {
		t.Errorf("empty directory: %v", diags)
	}
	// A template with no build loads: build.Plan reports it.
	if err := os.WriteFile(filepath.Join(empty, "a.kiln.hcl"), []byte("variable \"x\" {\n  default = 1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, diags = Load(empty)
	if len(diags) != 0 || len(tpl.Files) != 1 {
		t.Errorf("no build: %v", diags)
	}
}

func TestSyntaxOnly(t *testing.T) {
	// Of the errors of invalid-sources, only the duplicate declaration is
	// looked for...
	tpl, diags := Load(filepath.Join("testdata", "invalid-sources"), WithSyntaxOnly())
	if len(diags) != 1 || diags[0].Summary != "Duplicate source block" || len(tpl.Files) != 1 || len(tpl.Builds) != 0 {
		t.Errorf("syntax only: %v, %d files", diags, len(tpl.Files))
	}
	// ...but syntax errors are.
	if _, diags := Load(filepath.Join("testdata", "invalid-syntax"), WithSyntaxOnly()); !diags.HasErrors() {
		t.Error("syntax error not reported")
	}
}

func TestJSONTemplate(t *testing.T) {
	tpl := load(t, "valid-json")
	if str(t, tpl.Variables["region"].Value) != "eu-central-1" || tpl.Builds[0].Name != "json" ||
		tpl.Builds[0].Sources[0].Ref != (SourceRef{"null", "x"}) {
		t.Errorf("json template: %+v", tpl.Builds[0])
	}
}

func TestPostProcessorChains(t *testing.T) {
	tpl := load(t, "valid-post-processors")
	pps := tpl.Builds[0].PostProcessors
	if len(pps) != 2 || len(pps[0]) != 1 || len(pps[1]) != 2 || pps[1][1].Type != "shell-local" || pps[1][1].Except[0] != "null.b" {
		t.Errorf("chains = %+v", pps)
	}
	if pps[0][0].KeepInputArtifact != nil {
		t.Error("keep_input_artifact set without being written")
	}
}

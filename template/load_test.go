package template

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/zclconf/go-cty/cty"
)

// load loads a testdata folder with the test options and fails on errors.
func load(t *testing.T, dir string, extra ...LoadOption) *Template {
	t.Helper()
	dir = filepath.Join("testdata", dir)
	tpl, diags := Load(dir, append(testOptions(dir), extra...)...)
	if diags.HasErrors() {
		var b bytes.Buffer
		_ = tpl.WriteDiagnostics(&b, diags, false, 0)
		t.Fatalf("Load(%s):\n%s", dir, b.String())
	}
	return tpl
}

func str(t *testing.T, v cty.Value) string {
	t.Helper()
	if !v.IsKnown() || v.IsNull() || !v.Type().Equals(cty.String) {
		t.Fatalf("want a known string, got %#v", v)
	}
	return v.AsString()
}

func TestLoadBasic(t *testing.T) {
	tpl := load(t, "valid-basic")
	if got := str(t, tpl.Variables["region"].Value); got != "eu-west-1" {
		t.Errorf("region = %q", got)
	}
	if d := tpl.Variables["region"].Description; d != "The AWS region to build in." {
		t.Errorf("description = %q", d)
	}
	if v := tpl.Variables["optional_note"]; !v.Value.IsNull() || v.Required || !v.Nullable {
		t.Errorf("optional_note = %#v required=%v nullable=%v", v.Value, v.Required, v.Nullable)
	}
	tags := tpl.Locals["all_tags"].Value.AsValueMap()
	if str(t, tags["Name"]) != "web-eu-west-1" || str(t, tags["team"]) != "platform" {
		t.Errorf("all_tags = %#v", tags)
	}
	if len(tpl.Sources) != 2 || tpl.Sources[SourceRef{"amazon-ebs", "web"}] == nil {
		t.Fatalf("sources = %v", tpl.Sources)
	}
	if len(tpl.Builds) != 1 {
		t.Fatalf("builds = %d", len(tpl.Builds))
	}
	b := tpl.Builds[0]
	if b.Name != "web" || b.Description != "The web image." || len(b.Sources) != 2 {
		t.Fatalf("build = %+v", b)
	}
	if got := b.Sources[1].FullName(b); got != "web.null.local" {
		t.Errorf("FullName = %q", got)
	}
	p := b.Provisioners[0]
	if p.Type != "shell" || p.Name != "install" || p.PauseBefore != 10*time.Second || p.MaxRetries != 3 ||
		p.Timeout != 5*time.Minute || strings.Join(p.Only, ",") != "amazon-ebs.*" {
		t.Errorf("provisioner = %+v", p)
	}
	// The generic options are gone from the body; the component's remain.
	attrs, diags := p.Body.JustAttributes()
	if diags.HasErrors() || len(attrs) != 1 || attrs["inline"] == nil {
		t.Errorf("provisioner body attributes = %v, %v", attrs, diags)
	}
	if got := b.Provisioners[1].Except; len(got) != 1 || got[0] != "null.local" {
		t.Errorf("except = %v", got)
	}
	if b.ErrorCleanupProvisioner == nil || b.ErrorCleanupProvisioner.Type != "shell-local" {
		t.Errorf("error-cleanup-provisioner = %+v", b.ErrorCleanupProvisioner)
	}
	pp := b.PostProcessors[0][0]
	if pp.Type != "manifest" || pp.Name != "record" || pp.KeepInputArtifact == nil || !*pp.KeepInputArtifact {
		t.Errorf("post-processor = %+v", pp)
	}
	if pp.TypeRange.Start.Line != 36 || !strings.HasSuffix(pp.TypeRange.Filename, "build.pkr.hcl") {
		t.Errorf("post-processor type range = %s", pp.TypeRange)
	}

	// The provisioner's body decodes with the build's values.
	var cfg struct {
		Inline []string `hcl:"inline"`
	}
	ctx := tpl.EvalContext(b, b.Sources[0], map[string]string{"ID": "i-123"})
	if diags := hclconf.Decode(p.Body, ctx, &cfg); diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.Inline[0] != "echo web i-123" {
		t.Errorf("inline = %q", cfg.Inline)
	}
}

func TestPrecedence(t *testing.T) {
	tpl := load(t, "valid-precedence")
	want := map[string]string{
		"from_default": "default",
		"from_env":     "env",
		"from_auto":    "auto-b",
		"from_file1":   "file1",
		"from_file2":   "file2",
		"from_flag":    "flag2",
	}
	for name, w := range want {
		if got := str(t, tpl.Variables[name].Value); got != w {
			t.Errorf("%s = %q, want %q", name, got, w)
		}
	}
	// A list type parses the environment value as HCL; KILN_VAR_ wins over PKR_VAR_.
	if got := tpl.Variables["numbers"].Value; !got.RawEquals(cty.ListVal([]cty.Value{cty.NumberIntVal(1), cty.NumberIntVal(2)})) {
		t.Errorf("numbers = %#v", got)
	}
	if got := tpl.Variables["count"].Value; !got.RawEquals(cty.NumberIntVal(7)) {
		t.Errorf("count = %#v", got)
	}
}

func TestVariableOptionErrors(t *testing.T) {
	dir := filepath.Join("testdata", "valid-precedence")
	cases := []struct {
		opts []LoadOption
		want string
	}{
		{[]LoadOption{WithVars("nope=1")}, `-var sets "nope", but the template declares no variable`},
		{[]LoadOption{WithVars("from_flg=1")}, `did you mean "from_flag"?`},
		{[]LoadOption{WithVars("novalue")}, `must be written as name=value`},
		{[]LoadOption{WithVars("count=many")}, `Invalid value from -var count for variable "count"`},
		{[]LoadOption{WithVars("numbers=[1,")}, `is not a valid HCL expression`},
		{[]LoadOption{WithEnviron([]string{"PKR_VAR_numbers=[\"x\"]"})}, `environment variable PKR_VAR_numbers`},
		{[]LoadOption{WithVarFiles(filepath.Join(dir, "missing.pkrvars.hcl"))}, `missing.pkrvars.hcl`},
	}
	for _, c := range cases {
		_, diags := Load(dir, append([]LoadOption{WithNow(testNow)}, c.opts...)...)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), c.want) {
			t.Errorf("want an error containing %q, got %v", c.want, diags)
		}
	}
}

func TestLegacyVariablesBlock(t *testing.T) {
	tpl := load(t, "valid-legacy-variables", WithVars(`sizes=[32]`))
	if got := str(t, tpl.Variables["region"].Value); got != "us-east-1" {
		t.Errorf("region = %q", got)
	}
	if tpl.Builds[0].Name != "legacy-us-east-1" {
		t.Errorf("build name = %q", tpl.Builds[0].Name)
	}
	if got := tpl.Variables["sizes"].Value; got.LengthInt() != 1 {
		t.Errorf("sizes = %#v", got)
	}
}

func TestFunctions(t *testing.T) {
	tpl := load(t, "valid-functions")
	l := func(name string) cty.Value { return tpl.Locals[name].Value }
	stamp := testNow.Format(time.RFC3339)
	wantStr := map[string]string{
		"stamp":       stamp,
		"stamp_again": stamp,
		"day":         "2026-03-04",
		"later":       "2026-03-04T06:06:07Z",
		"hello":       "hello",
		"greeting":    "Hello, kiln! a b\n",
		"json":        `{"a":1}`,
		"yaml_text":   "\"k\": \"v\"\n",
		"b64":         "a2lsbg==",
		"plain":       "kiln",
		"base":        "c.txt",
		"dir":         "/a/b",
		"upper":       "X",
		"joined":      "a,b",
		"regex":       "123",
		"replaced":    "a_b",
		"fallback":    "fallback",
		"cond":        "many",
		"sha":         "cdfe9ad58b46226d63eb322dacd35f4f7ac38096180c87258c142e4bca9a3cf5",
		"version":     PackerVersion,
		"home":        "/home/kiln",
		"hello_b64":   "aGVsbG8K",
		"legacy_day":  "2026-03-04",
		"md5":         "9e8287435ae73a052c9459e215e46a28",
		"tilde":       "/abs",
	}
	for name, want := range wantStr {
		if got := str(t, l(name)); got != want {
			t.Errorf("local.%s = %q, want %q", name, got, want)
		}
	}
	if got := l("scripts"); got.LengthInt() != 2 || str(t, got.Index(cty.NumberIntVal(0))) != "sub/a.sh" {
		t.Errorf("scripts = %#v", got)
	}
	for name, want := range map[string]cty.Value{
		"exists": cty.True, "not_exists": cty.False, "contains": cty.True, "chars": cty.NumberIntVal(4),
	} {
		if got := l(name); !got.RawEquals(want) {
			t.Errorf("local.%s = %#v, want %#v", name, got, want)
		}
	}
	if got := l("can_parse"); got.True() {
		t.Errorf("can_parse = %#v", got)
	}
	if got := l("number"); !got.RawEquals(cty.NumberIntVal(260)) {
		t.Errorf("number = %#v", got)
	}
	if got := l("id"); len(str(t, got)) != 36 || str(t, got)[14] != '4' {
		t.Errorf("uuid = %#v", got)
	}
	abs, _ := filepath.Abs(filepath.Join("testdata", "valid-functions"))
	if got := str(t, l("abs")); got != abs {
		t.Errorf("abspath = %q, want %q", got, abs)
	}
	cwd, _ := os.Getwd()
	if got := str(t, l("cwd")); got != cwd {
		t.Errorf("path.cwd = %q, want %q", got, cwd)
	}
	if got := l("decoded").GetAttr("b").LengthInt(); got != 2 {
		t.Errorf("jsondecode length = %d", got)
	}
	if got := str(t, l("yaml").GetAttr("k")); got != "v" {
		t.Errorf("yamldecode = %q", got)
	}

	// One timestamp per run: components evaluated later get the same one.
	ctx := tpl.EvalContext(tpl.Builds[0], tpl.Builds[0].Sources[0], nil)
	expr, _ := parseExpr(t, `timestamp()`)
	v, diags := expr.Value(ctx)
	if diags.HasErrors() || str(t, v) != stamp {
		t.Errorf("timestamp() in a build = %#v, %v", v, diags)
	}
}

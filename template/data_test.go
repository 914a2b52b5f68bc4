package template

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/internal/hclconf"
)

// echoSources is a DataSources with one type, "echo": its input attribute
// comes back as output, and each Execute is counted. An input of "fail"
// makes Execute fail.
type echoSources struct{ calls map[string]int }

type echo struct {
	src   *echoSources
	input cty.Value
}

var echoType = cty.Object(map[string]cty.Type{"output": cty.String})

func (e *echo) OutputType() cty.Type { return echoType }

func (e *echo) Execute(context.Context) (cty.Value, error) {
	s := e.input.AsString()
	e.src.calls[s]++
	if s == "fail" {
		return cty.NilVal, errors.New("the lookup failed")
	}
	return cty.ObjectVal(map[string]cty.Value{"output": e.input}), nil
}

// Secrets reports inputs that start with "secret-" as secrets.
func (e *echo) Secrets(out cty.Value) []string {
	if v := out.GetAttr("output").AsString(); strings.HasPrefix(v, "secret-") {
		return []string{v}
	}
	return nil
}

func (s *echoSources) Types() []string { return []string{"echo"} }

func (s *echoSources) Decode(typ string, body hcl.Body, ectx *hcl.EvalContext) (DataSource, bool, hcl.Diagnostics) {
	if typ != "echo" {
		return nil, false, nil
	}
	content, diags := body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "input", Required: true}}})
	if diags.HasErrors() {
		return nil, true, diags
	}
	v, d := content.Attributes["input"].Expr.Value(ectx)
	return &echo{src: s, input: v}, true, append(diags, d...)
}

// loadData loads src as main.pkr.hcl with the echo data source.
func loadData(t *testing.T, src string) (*Template, *echoSources, hcl.Diagnostics) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.pkr.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	es := &echoSources{calls: map[string]int{}}
	tpl, diags := Load(dir, WithNow(testNow), WithEnviron(nil), WithDataSources(es))
	return tpl, es, diags
}

// diagAt returns the first error whose summary contains text, checking it
// points at line.
func diagAt(t *testing.T, diags hcl.Diagnostics, text string, line int) *hcl.Diagnostic {
	t.Helper()
	for _, d := range diags {
		if d.Severity == hcl.DiagError && strings.Contains(d.Summary+" "+d.Detail, text) {
			if d.Subject == nil || d.Subject.Start.Line != line {
				t.Errorf("%q reported at %v, want line %d", text, d.Subject, line)
			}
			return d
		}
	}
	t.Fatalf("no error containing %q in:\n%s", text, diags.Error())
	return nil
}

const orderSrc = `
locals {
  prefix = "v-${data.echo.first.output}"
}
data "echo" "second" {
  input = "${local.prefix}-2"
}
data "echo" "first" {
  input = "1"
}
local "secret" {
  expression = data.echo.second.output
  sensitive  = true
}
source "null" "x" {}
build {
  name    = data.echo.second.output
  sources = ["source.null.x"]
}
`

// A data block that uses a local that uses another data block: all are
// unknown after Load, and known in order after EvaluateDataSources, which
// runs each data source once and decodes the builds again.
func TestDataOrder(t *testing.T) {
	tpl, es, diags := loadData(t, orderSrc)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(es.calls) != 0 {
		t.Fatalf("Load ran data sources: %v", es.calls)
	}
	second := tpl.Data[DataRef{"echo", "second"}]
	if second == nil || second.Value.IsKnown() || !second.Value.Type().Equals(echoType) {
		t.Fatalf("before evaluation data.echo.second = %#v, want unknown of the output type", second)
	}
	if tpl.Locals["prefix"].Value.IsKnown() || tpl.Builds[0].Name != "" {
		t.Errorf("values from data known before evaluation: prefix %#v, build name %q", tpl.Locals["prefix"].Value, tpl.Builds[0].Name)
	}
	if !tpl.HasPendingData() {
		t.Error("HasPendingData is false before evaluation")
	}

	if diags := tpl.EvaluateDataSources(context.Background()); len(diags) > 0 {
		t.Fatal(diags.Error())
	}
	if got := tpl.Locals["prefix"].Value; got != cty.StringVal("v-1") {
		t.Errorf("local.prefix = %#v", got)
	}
	if got := tpl.Data[DataRef{"echo", "second"}].Value.GetAttr("output"); got != cty.StringVal("v-1-2") {
		t.Errorf("data.echo.second.output = %#v", got)
	}
	if tpl.Builds[0].Name != "v-1-2" {
		t.Errorf("build name = %q, want the data value", tpl.Builds[0].Name)
	}
	v, err := eval(t, tpl, nil, nil, nil, `data.echo.first.output`)
	if err != nil || v != cty.StringVal("1") {
		t.Errorf("data.echo.first.output in a component's context = %#v, %v", v, err)
	}
	if !slices.Contains(tpl.SensitiveValues(), "v-1-2") {
		t.Errorf("SensitiveValues %q lacks the data value of a sensitive local", tpl.SensitiveValues())
	}
	tpl.EvaluateDataSources(context.Background())
	if es.calls["1"] != 1 || es.calls["v-1-2"] != 1 || tpl.HasPendingData() {
		t.Errorf("data sources ran %v times, want once each", es.calls)
	}
}

// During validation, data values are unknown but typed: a reference to an
// attribute the output lacks is an error at the reference.
func TestDataUnknownTyped(t *testing.T) {
	_, _, diags := loadData(t, `
data "echo" "a" {
  input = "x"
}
locals {
  fine = upper(data.echo.a.output)
  bad  = data.echo.a.nope
}
`)
	diagAt(t, diags, "Unsupported attribute", 7)
	if n := len(diags.Errs()); n != 1 {
		t.Errorf("%d errors, want 1:\n%s", n, diags.Error())
	}
}

func TestDataCycle(t *testing.T) {
	_, _, diags := loadData(t, `
locals {
  a = data.echo.x.output
}
data "echo" "x" {
  input = local.a
}
data "echo" "self" {
  input = data.echo.self.output
}
`)
	d := diagAt(t, diags, "local.a -> data.echo.x -> local.a", 3)
	if !strings.Contains(d.Detail, "data.echo.x at ") || !strings.Contains(d.Detail, "main.pkr.hcl:5") {
		t.Errorf("cycle detail lacks the data block's range: %s", d.Detail)
	}
	diagAt(t, diags, "data.echo.self -> data.echo.self", 8)
}

func TestDataErrors(t *testing.T) {
	_, _, diags := loadData(t, `
data "ecko" "a" {
  input = "x"
}
data "echo" "b" {
  input = data.echo.c.output
}
data "echo" "dup" {
  input = "1"
}
data "echo" "dup" {
  input = "2"
}
data "echo" "c" {
  wrong = 1
}
`)
	d := diagAt(t, diags, "Unknown data source type", 2)
	if !strings.Contains(d.Detail, `did you mean "echo"`) {
		t.Errorf("no suggestion: %s", d.Detail)
	}
	diagAt(t, diags, "Duplicate data block", 11)
	diagAt(t, diags, "Unsupported argument", 15)

	_, _, diags = loadData(t, `
locals {
  x = data.echo.missing.output
}
data "echo" "mising" {
  input = "1"
}
`)
	d = diagAt(t, diags, "undeclared data source", 3)
	if !strings.Contains(d.Detail, `did you mean "echo.mising"`) {
		t.Errorf("no suggestion: %s", d.Detail)
	}
}

// A data source that fails is an error at its block, naming it.
func TestDataExecuteError(t *testing.T) {
	tpl, es, diags := loadData(t, `
data "echo" "ok" {
  input = "fine"
}

data "echo" "broken" {
  input = "fail"
}
locals {
  after = data.echo.broken.output
}
`)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	diags = tpl.EvaluateDataSources(context.Background())
	d := diagAt(t, diags, "echo.broken failed", 6)
	if !strings.Contains(d.Detail, "the lookup failed") {
		t.Errorf("detail lacks the cause: %s", d.Detail)
	}
	if len(diags) != 1 || es.calls["fine"] != 1 {
		t.Errorf("diags %v, calls %v", diags, es.calls)
	}
}

// A failed evaluation leaves the data sources pending: the next call runs
// them again and fails the same way, instead of returning nothing with the
// values that depend on them unknown. A data source whose input comes from
// the failed one is not run; its value, like the local's, is unknown and
// says why.
func TestDataExecuteErrorRepeats(t *testing.T) {
	tpl, es, diags := loadData(t, `
data "echo" "broken" {
  input = "fail"
}
locals {
  after = data.echo.broken.output
}
data "echo" "next" {
  input = local.after
}
`)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	first := tpl.EvaluateDataSources(context.Background())
	second := tpl.EvaluateDataSources(context.Background())
	diagAt(t, second, "echo.broken failed", 2)
	if first.Error() != second.Error() || len(second) != 1 || !tpl.HasPendingData() {
		t.Errorf("second evaluation %q after %q (pending %v)", second.Error(), first.Error(), tpl.HasPendingData())
	}
	if len(es.calls) != 1 || es.calls["fail"] != 2 {
		t.Errorf("data sources ran %v, want the failing one twice and nothing else", es.calls)
	}
	want := hclconf.NotKnown("it depends on data.echo.broken, which failed")
	for name, v := range map[string]cty.Value{"local.after": tpl.Locals["after"].Value, "data.echo.next": tpl.Data[DataRef{"echo", "next"}].Value} {
		if v.IsKnown() || !v.HasMark(want) {
			t.Errorf("%s = %#v, want unknown and marked %q", name, v, want)
		}
	}
}

// Without WithDataSources every data block is an error.
func TestDataWithoutSources(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.pkr.hcl"), []byte("data \"echo\" \"a\" {\n  input = 1\n}\n"), 0o644)
	_, diags := Load(dir)
	diagAt(t, diags, "Unknown data source type", 1)
}

// In JSON templates too, a data block's references order it after what it
// uses.
func TestDataJSON(t *testing.T) {
	dir := t.TempDir()
	src := `{
  "locals": {"name": "${data.echo.first.output}-x"},
  "data": {
    "echo": {
      "second": {"input": "${local.name}"},
      "first": {"input": "one"}
    }
  }
}`
	if err := os.WriteFile(filepath.Join(dir, "main.pkr.json"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, diags := Load(dir, WithNow(testNow), WithEnviron(nil), WithDataSources(&echoSources{calls: map[string]int{}}))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if diags := tpl.EvaluateDataSources(context.Background()); len(diags) > 0 {
		t.Fatal(diags.Error())
	}
	if got := tpl.Data[DataRef{"echo", "second"}].Value.GetAttr("output"); got != cty.StringVal("one-x") {
		t.Errorf("data.echo.second.output = %#v", got)
	}
}

// A sensitive local made from a data value redacts that value too, where
// it shows on its own (the data source's result, an error).
func TestDataSensitiveSource(t *testing.T) {
	tpl, _, diags := loadData(t, `
data "echo" "token" {
  input = "tok-123456"
}
data "echo" "plain" {
  input = "visible-value"
}
local "header" {
  expression = "Bearer ${data.echo.token.output}"
  sensitive  = true
}
locals {
  shown = "${data.echo.plain.output}-${data.echo.token.output}"
}
`)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if diags := tpl.EvaluateDataSources(context.Background()); len(diags) > 0 {
		t.Fatal(diags.Error())
	}
	got := tpl.SensitiveValues()
	for _, want := range []string{"Bearer tok-123456", "tok-123456"} {
		if !slices.Contains(got, want) {
			t.Errorf("SensitiveValues %q lacks %q", got, want)
		}
	}
	if slices.Contains(got, "visible-value") || slices.Contains(got, "visible-value-tok-123456") {
		t.Errorf("SensitiveValues %q holds values no sensitive local uses", got)
	}
}

// A build's family block may take its version from a data source: the
// builds are decoded again once data sources ran.
func TestDataFamilyVersion(t *testing.T) {
	tpl, _, diags := loadData(t, `
data "echo" "release" {
  input = "2.7.1"
}
source "null" "x" {}
build {
  sources = ["source.null.x"]
  family {
    name    = "web"
    version = data.echo.release.output
  }
}
`)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if f := tpl.Builds[0].Family; f == nil || f.Name != "web" {
		t.Fatalf("family before evaluation: %+v", f)
	}
	if diags := tpl.EvaluateDataSources(context.Background()); len(diags) > 0 {
		t.Fatal(diags.Error())
	}
	if f := tpl.Builds[0].Family; f == nil || f.Version != "2.7.1" || len(tpl.Builds) != 1 {
		t.Errorf("family after evaluation: %+v (%d builds)", f, len(tpl.Builds))
	}
}

// What a data source reports as secret is sensitive without a sensitive
// local.
func TestDataSecretsReported(t *testing.T) {
	tpl, _, diags := loadData(t, `
data "echo" "password" {
  input = "secret-hunter2"
}
data "echo" "plain" {
  input = "public-value"
}
`)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(tpl.SensitiveValues()) != 0 {
		t.Errorf("secrets before evaluation: %q", tpl.SensitiveValues())
	}
	if diags := tpl.EvaluateDataSources(context.Background()); len(diags) > 0 {
		t.Fatal(diags.Error())
	}
	if got := tpl.SensitiveValues(); !slices.Equal(got, []string{"secret-hunter2"}) {
		t.Errorf("SensitiveValues = %q, want the reported secret only", got)
	}
}

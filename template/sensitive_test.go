package template

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/kilnhq/kiln/internal/hclconf"
)

func TestSensitiveValues(t *testing.T) {
	tpl := load(t, "valid-sensitive")
	got := tpl.SensitiveValues()
	want := []string{
		"https://deploy:hunter2-very-secret@example.invalid", // the sensitive local
		"hunter2-very-secret",
		"tok-abcdef",
		"deploy",
		"4711",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("SensitiveValues = %q, want %q", got, want)
	}
	for _, s := range got {
		if s == "visible-value" {
			t.Error("a non-sensitive value is listed")
		}
	}
}

// TestDiagnosticsRedacted checks that sensitive values appear nowhere in
// printed diagnostics: not in details, not in the values the writer lists,
// not in snippets.
func TestDiagnosticsRedacted(t *testing.T) {
	tpl := load(t, "valid-sensitive")
	b := tpl.Builds[0]
	var cfg struct {
		Port int `hcl:"port"`
		Pin  int `hcl:"pin"`
	}
	diags := hclconf.Decode(b.Provisioners[0].Body, tpl.EvalContext(b, b.Sources[0], nil), &cfg)
	if !diags.HasErrors() {
		t.Fatal("decoding port should fail: it is not a number")
	}
	if !strings.Contains(diags.Error(), "hunter2-very-secret") {
		t.Fatal("test premise: the raw diagnostic carries the secret")
	}
	// A diagnostic on the line that declares the default shows that line.
	f := tpl.Files[tpl.Variables["password"].DeclRange.Filename]
	start := bytes.Index(f.Bytes, []byte(`default   = "hunter2`))
	diags = append(diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Look at hunter2-very-secret",
		Detail:   "The token tok-abcdef and the pin 4711.",
		Subject: &hcl.Range{
			Filename: f.Body.MissingItemRange().Filename,
			Start:    hcl.Pos{Line: 4, Column: 3, Byte: start},
			End:      hcl.Pos{Line: 4, Column: 36, Byte: start + 33},
		},
	})

	var out bytes.Buffer
	if err := tpl.WriteDiagnostics(&out, diags, false, 100); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, secret := range tpl.SensitiveValues() {
		if strings.Contains(text, secret) {
			t.Errorf("output shows %q:\n%s", secret, text)
		}
	}
	for _, want := range []string{Redacted, "visible-value", "main.pkr.hcl line 4", "*******************", "with var.public"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "var.password as") {
		t.Errorf("the writer listed the sensitive variable's value:\n%s", text)
	}

	// The template's own diagnostics are left alone.
	if !strings.Contains(diags[len(diags)-1].Summary, "hunter2") {
		t.Error("WriteDiagnostics modified its input")
	}
}

func TestWriteDiagnosticsWithoutTemplate(t *testing.T) {
	tpl, diags := Load("testdata/invalid-syntax")
	if !diags.HasErrors() {
		t.Fatal("want a syntax error")
	}
	var out bytes.Buffer
	if err := WriteDiagnostics(&out, tpl.Files, diags, false, 0); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "main.pkr.hcl line 3") || !strings.Contains(out.String(), "broken =") {
		t.Errorf("output lacks location or snippet:\n%s", out.String())
	}
	var nilTpl *Template
	out.Reset()
	if err := nilTpl.WriteDiagnostics(&out, diags, true, 80); err != nil || !strings.Contains(out.String(), "Invalid expression") {
		t.Errorf("a nil template writes without snippets: %v\n%s", err, out.String())
	}
}

package compconf

import (
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kilnhq/kiln/builder"
)

func TestAttrs(t *testing.T) {
	f, _ := hclsyntax.ParseConfig([]byte("a = 1\nb = x.y\n"), "t.pkr.hcl", hcl.InitialPos)
	attrs := BodyAttrs(f.Body, "a", "b", "c")
	if !attrs.Has("a") || !attrs.Has("b") || attrs.Has("c") {
		t.Errorf("Has: a %v b %v c %v", attrs.Has("a"), attrs.Has("b"), attrs.Has("c"))
	}
	if d := attrs.Error("b", "S", "D"); d.Subject.Start.Line != 2 {
		t.Errorf("diagnostic on b at line %d", d.Subject.Start.Line)
	}
	if d := attrs.Error("c", "S", "D"); *d.Subject != f.Body.MissingItemRange() {
		t.Errorf("diagnostic on an unset attribute should be on the body, got %v", d.Subject)
	}
	if diags := attrs.CheckSyntax("a", "{{ .Missing }} {{ timestamp }}"); diags.HasErrors() {
		t.Errorf("run-time values must not fail the syntax check: %v", diags)
	}
	if diags := attrs.CheckSyntax("a", "{{ .Broken "); !diags.HasErrors() {
		t.Error("a broken template must fail the syntax check")
	}
}

func TestLegacy(t *testing.T) {
	info := builder.Info{SourceName: "box", Type: "null", Started: time.Unix(1700000000, 0)}
	got, err := Legacy(info, With(map[string]string{"Host": "h"}, "Path", "/tmp/p"))("{{ .Host }} {{ .Path }} {{ build_name }} {{ build_type }} {{ timestamp }}")
	if err != nil || got != "h /tmp/p box null 1700000000" {
		t.Errorf("got %q, %v", got, err)
	}
}

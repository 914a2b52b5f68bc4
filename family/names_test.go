package family_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/family"
)

func parse(t *testing.T, src string) hcl.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return f.Body
}

func TestEvalContext(t *testing.T) {
	base := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{"x": cty.StringVal("y")})}}
	ectx := family.EvalContext(base, "web", "")
	if _, ok := base.Variables["family"]; ok {
		t.Error("EvalContext changed the context it was given")
	}
	if !family.EngineNamed(ectx) || family.EngineNamed(base) || family.EngineNamed(nil) {
		t.Error("EngineNamed")
	}
	f := ectx.Variables["family"]
	if !f.GetAttr("name").RawEquals(cty.StringVal("web")) || f.GetAttr("version").IsKnown() || !ectx.Variables["var"].RawEquals(base.Variables["var"]) {
		t.Errorf("variables %#v", ectx.Variables)
	}
	if v := family.EvalContext(nil, "web", "2.0.0").Variables["family"].GetAttr("version"); !v.RawEquals(cty.StringVal("2.0.0")) {
		t.Errorf("family.version = %#v", v)
	}
}

func TestNames(t *testing.T) {
	ectx := family.EvalContext(&hcl.EvalContext{Variables: map[string]cty.Value{
		"var": cty.ObjectVal(map[string]cty.Value{"prefix": cty.StringVal("p")}),
	}}, "web", "")
	body := parse(t, `
name  = "${var.prefix}-${family.name}-${family.version}"
other = "x"
gone  = null
block {
  name = "inner"
}
`)
	n := family.NewNames(body, ectx, "name", "missing", "gone")
	for attr, want := range map[string]string{"name": "p-web-1.2.3", "missing": "def", "gone": "def", "other": "def"} {
		if got, err := n.Value(attr, "web", "1.2.3", "def"); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", attr, got, err, want)
		}
	}
	if _, err := family.NewNames(parse(t, `name = "${var.nope}"`), ectx, "name").Value("name", "web", "1.0.0", ""); err == nil {
		t.Error("an undefined variable in the name is no error")
	}
	if got, err := (family.Names{}).Value("name", "web", "1.0.0", "def"); got != "def" || err != nil {
		t.Errorf("the zero Names: %q, %v", got, err)
	}
}

func TestGuardVersion(t *testing.T) {
	src := `
name = "web-${family.version}"
desc = "for ${family.name}"
tags = { v = family.version }
all  = family
inner {
  name = family.version
}
`
	schema := &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "name"}, {Name: "desc"}, {Name: "tags"}, {Name: "all"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "inner"}},
	}
	decode := func(ectx *hcl.EvalContext) hcl.Diagnostics {
		var diags hcl.Diagnostics
		body := family.GuardVersion(parse(t, src), ectx, &diags, "name")
		c, _ := body.Content(schema)
		body.Content(schema) // read twice: reported once
		for _, b := range c.Blocks {
			b.Body.JustAttributes()
		}
		return diags
	}
	diags := decode(family.EvalContext(nil, "web", ""))
	var got []string
	for _, d := range diags {
		got = append(got, fmt.Sprintf("%s @%d", d.Summary, d.Subject.Start.Line))
	}
	want := []string{
		"family.version cannot be used in all @5",
		"family.version cannot be used in name @7",
		"family.version cannot be used in tags @4",
	}
	slices.Sort(got)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("diagnostics\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if diags := decode(nil); len(diags) != 0 {
		t.Errorf("outside a family build: %v", diags)
	}
}

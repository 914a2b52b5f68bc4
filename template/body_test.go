package template

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/kilnhq/kiln/internal/hclconf"
)

func parseExpr(t *testing.T, src string) (hcl.Expression, hcl.Diagnostics) {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "expr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return expr, diags
}

func parseBody(t *testing.T, name, src string) hcl.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), name, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return f.Body
}

type nullConfig struct {
	Communicator string `hcl:"communicator"`
	Host         string `hcl:"ssh_host,optional"`
	User         string `hcl:"ssh_username,optional"`
}

func TestBuildSourceOverrides(t *testing.T) {
	tpl := load(t, "valid-overrides")
	b := tpl.Builds[0]
	if len(b.Sources) != 2 {
		t.Fatalf("sources = %d", len(b.Sources))
	}
	want := []struct{ name, user, full string }{
		{"other", "admin", "override.null.other"},
		{"base", "root", "override.null.base"},
	}
	for i, w := range want {
		s := b.Sources[i]
		var cfg nullConfig
		if diags := hclconf.Decode(s.Body, tpl.EvalContext(b, s, nil), &cfg); diags.HasErrors() {
			t.Fatal(diags)
		}
		if s.Name != w.name || cfg.User != w.user || cfg.Host != "127.0.0.1" || cfg.Communicator != "ssh" || s.FullName(b) != w.full {
			t.Errorf("source %d: name %q, full %q, config %+v", i, s.Name, s.FullName(b), cfg)
		}
	}
}

func TestOverrideBody(t *testing.T) {
	base := parseBody(t, "base.hcl", `
a = 1
b = 2
tag {
  k = "base"
}
other {
}
`)
	over := parseBody(t, "over.hcl", `
b = 20
c = 30
tag {
  k = "over1"
}
tag {
  k = "over2"
}
`)
	body := overrideBodies(base, over)
	schema := &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "a", Required: true}, {Name: "b"}, {Name: "c", Required: true}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "tag"}, {Type: "other"}},
	}
	content, diags := body.Content(schema)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for name, file := range map[string]string{"a": "base.hcl", "b": "over.hcl", "c": "over.hcl"} {
		if got := content.Attributes[name].Range.Filename; got != file {
			t.Errorf("%s comes from %s, want %s", name, got, file)
		}
	}
	if v, _ := content.Attributes["b"].Expr.Value(nil); v.AsBigFloat().String() != "20" {
		t.Errorf("b = %#v", v)
	}
	var tags []string
	for _, blk := range content.Blocks {
		if blk.Type == "tag" {
			tags = append(tags, blk.DefRange.Filename)
		}
	}
	if strings.Join(tags, ",") != "over.hcl,over.hcl" {
		t.Errorf("tag blocks from %v: the override's should replace the base's", tags)
	}
	if len(content.Blocks) != 3 {
		t.Errorf("blocks = %d, want other + 2 tags", len(content.Blocks))
	}

	// A required attribute missing from both is reported; unknown attributes
	// are reported in the file they are written in.
	_, diags = body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "a"}, {Name: "b"}, {Name: "d", Required: true}}})
	var missing, unsupported []string
	for _, d := range diags {
		switch d.Summary {
		case "Missing required argument":
			missing = append(missing, d.Detail)
		case "Unsupported argument":
			unsupported = append(unsupported, d.Subject.Filename)
		}
	}
	if len(missing) != 1 || !strings.Contains(missing[0], `"d"`) {
		t.Errorf("missing = %v", missing)
	}
	if strings.Join(unsupported, ",") != "over.hcl" {
		t.Errorf("unsupported attribute reported in %v, want over.hcl (c)", unsupported)
	}

	// PartialContent leaves the rest, itself an override body.
	content, rest, diags := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "a"}}})
	if diags.HasErrors() || content.Attributes["a"] == nil {
		t.Fatal(content, diags)
	}
	restContent, diags := rest.Content(&hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "b"}, {Name: "c"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "tag"}, {Type: "other"}},
	})
	if diags.HasErrors() || restContent.Attributes["a"] != nil || restContent.Attributes["b"].Range.Filename != "over.hcl" {
		t.Errorf("rest content = %v, %v", restContent, diags)
	}

	// JustAttributes merges too (here both bodies have blocks: an error each).
	attrBase := parseBody(t, "base.hcl", "x = 1\ny = 2\n")
	attrOver := parseBody(t, "over.hcl", "y = 3\n")
	attrs, diags := overrideBodies(attrBase, attrOver).JustAttributes()
	if diags.HasErrors() || len(attrs) != 2 || attrs["y"].Range.Filename != "over.hcl" || attrs["x"].Range.Filename != "base.hcl" {
		t.Errorf("JustAttributes = %v, %v", attrs, diags)
	}
	if _, diags := body.JustAttributes(); !diags.HasErrors() {
		t.Error("JustAttributes on bodies with blocks should fail")
	}
	if r := body.MissingItemRange(); r.Filename != "base.hcl" {
		t.Errorf("MissingItemRange = %s", r)
	}
}

type tag struct {
	Key   string `hcl:"key"`
	Value string `hcl:"value"`
}

func TestDynamicBlocks(t *testing.T) {
	tpl := load(t, "valid-dynamic")
	b := tpl.Builds[0]
	s := b.Sources[0]
	var cfg struct {
		Communicator string `hcl:"communicator"`
		Tags         []tag  `hcl:"tag,block"`
	}
	if diags := hclconf.Decode(s.Body, tpl.EvalContext(b, s, nil), &cfg); diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(cfg.Tags) != 2 || cfg.Tags[0] != (tag{"a", "1"}) || cfg.Tags[1] != (tag{"b", "2"}) {
		t.Errorf("tags = %+v", cfg.Tags)
	}
	// A dynamic block in a provisioner survives the removal of the generic options.
	var prov struct {
		Env []struct {
			Name string `hcl:"name"`
		} `hcl:"env,block"`
	}
	if diags := hclconf.Decode(b.Provisioners[0].Body, tpl.EvalContext(b, s, nil), &prov); diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(prov.Env) != 2 || prov.Env[1].Name != "two" {
		t.Errorf("env = %+v", prov.Env)
	}
	// Dynamic blocks work through an override body as well.
	over := overrideBodies(s.Body, parseBody(t, "over.hcl", `communicator = "ssh"`))
	cfg.Tags = nil
	if diags := hclconf.Decode(over, tpl.EvalContext(b, s, nil), &cfg); diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(cfg.Tags) != 2 || cfg.Communicator != "ssh" {
		t.Errorf("through an override: %+v", cfg)
	}
}

func TestProvisionerOverride(t *testing.T) {
	tpl := load(t, "valid-overrides")
	b := tpl.Builds[0]
	p := b.Provisioners[0]
	want := []string{"echo other is overridden", "echo base"}
	for i, s := range b.Sources {
		var cfg struct {
			Inline []string `hcl:"inline"`
		}
		if diags := hclconf.Decode(p.BodyFor(s), tpl.EvalContext(b, s, nil), &cfg); diags.HasErrors() {
			t.Fatal(diags)
		}
		if len(cfg.Inline) != 1 || cfg.Inline[0] != want[i] {
			t.Errorf("source %s: inline = %q, want %q", s.Name, cfg.Inline, want[i])
		}
	}
	if p.BodyFor(nil) != p.Body || p.BodyFor(&BuildSource{Ref: SourceRef{"null", "z"}, Name: "z"}) != p.Body {
		t.Error("a source without override should get the plain body")
	}
	// An unknown attribute in an override is reported at its range.
	over := p.Override["other"]
	var cfg struct{}
	diags := hclconf.Decode(overrideBodies(parseBody(t, "x.hcl", ""), over), nil, &cfg)
	if !diags.HasErrors() || diags[0].Subject.Start.Line != 22 {
		t.Errorf("unknown attribute in override: %v", diags)
	}
}

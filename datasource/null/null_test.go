package null

import (
	"context"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

func parse(t *testing.T, src string) hcl.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return f.Body
}

func TestNull(t *testing.T) {
	d, diags := New(parse(t, `input = "hello"`), nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	v, err := d.Execute(context.Background())
	if err != nil || v.GetAttr("output") != cty.StringVal("hello") {
		t.Fatalf("Execute = %#v, %v", v, err)
	}
	if !v.Type().Equals(d.OutputType()) {
		t.Errorf("output %s is not of the output type %s", v.Type().FriendlyName(), d.OutputType().FriendlyName())
	}
	if _, diags := New(parse(t, `inptu = "x"`), nil); !diags.HasErrors() {
		t.Error("a misspelt attribute was accepted")
	}
}

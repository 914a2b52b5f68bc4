package datasource_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/datasource"
	"github.com/kilnhq/kiln/template"
)

// release is a data source of a program's own: data "release" "NAME" {
// channel = "..." } looks up the release of a channel.
type release struct{ channel string }

func (r release) OutputType() cty.Type {
	return cty.Object(map[string]cty.Type{"version": cty.String})
}

func (r release) Execute(context.Context) (cty.Value, error) {
	versions := map[string]string{"stable": "1.4.2", "beta": "1.5.0-rc.1"}
	v, ok := versions[r.channel]
	if !ok {
		return cty.NilVal, fmt.Errorf("no release channel %q", r.channel)
	}
	return cty.ObjectVal(map[string]cty.Value{"version": cty.StringVal(v)}), nil
}

func newRelease(body hcl.Body, ectx *hcl.EvalContext) (datasource.Datasource, hcl.Diagnostics) {
	content, diags := body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "channel", Required: true}}})
	if diags.HasErrors() {
		return nil, diags
	}
	var r release
	// During validation the channel may be unknown: leave it unset.
	v, d := content.Attributes["channel"].Expr.Value(ectx)
	if diags = append(diags, d...); !diags.HasErrors() && v.IsWhollyKnown() {
		diags = append(diags, gohcl.DecodeExpression(content.Attributes["channel"].Expr, ectx, &r.channel)...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return r, diags
}

// A program adds its own data source to kiln's, loads a template that uses
// it, and runs the data sources: until then, values made from them are
// unknown (as kiln validate sees them).
func Example() {
	dir, _ := os.MkdirTemp("", "kiln-example-")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "app.pkr.hcl"), []byte(`
data "release" "app" {
  channel = "stable"
}
data "null" "name" {
  input = "app-${data.release.app.version}"
}
locals {
  image_name = data.null.name.output
}
`), 0o644)

	reg := kiln.DefaultDataSources()
	reg.Register("release", newRelease)
	tpl, diags := kiln.Load(dir, template.WithDataSources(kiln.DataSources(reg)))
	if diags.HasErrors() {
		fmt.Println(diags)
		return
	}
	fmt.Println("known before:", tpl.Locals["image_name"].Value.IsKnown())
	if diags := tpl.EvaluateDataSources(context.Background()); diags.HasErrors() {
		fmt.Println(diags)
		return
	}
	fmt.Println("image name:", tpl.Locals["image_name"].Value.AsString())
	// Output:
	// known before: false
	// image name: app-1.4.2
}

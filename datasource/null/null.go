package null

import (
	"context"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/datasource"
	"github.com/kilnhq/kiln/internal/hclconf"
)

// Type is the data block type label.
const Type = "null"

// Config holds the options of a data "null" block.
type Config struct {
	// Input is any string; it comes back as output.
	Input string `hcl:"input"`
}

// Datasource returns its input.
type Datasource struct {
	cfg Config
}

var outputType = cty.Object(map[string]cty.Type{"output": cty.String})

// New decodes a data "null" body.
func New(body hcl.Body, ectx *hcl.EvalContext) (datasource.Datasource, hcl.Diagnostics) {
	d := &Datasource{}
	diags := hclconf.Decode(body, ectx, &d.cfg)
	if diags.HasErrors() {
		return nil, diags
	}
	return d, diags
}

// OutputType is an object with one attribute, output.
func (d *Datasource) OutputType() cty.Type { return outputType }

// Execute returns {output = input}.
func (d *Datasource) Execute(context.Context) (cty.Value, error) {
	return cty.ObjectVal(map[string]cty.Value{"output": cty.StringVal(d.cfg.Input)}), nil
}

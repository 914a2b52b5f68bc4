package amazonparameterstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/datasource"
	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/internal/hclconf"
)

// Type is the data block type label.
const Type = "amazon-parameterstore"

// Config holds the options of a data "amazon-parameterstore" block.
type Config struct {
	awsutil.AccessConfig `hcl:",squash"`
	// Name is the parameter's name or ARN (with an optional :VERSION or
	// :LABEL suffix, as SSM accepts).
	Name string `hcl:"name"`
	// WithDecryption decrypts a SecureString parameter.
	WithDecryption bool `hcl:"with_decryption,optional"`
}

// Datasource reads one parameter.
type Datasource struct {
	cfg Config
	// secure is set by Execute when it decrypted a SecureString.
	secure bool
}

var outputType = cty.Object(map[string]cty.Type{
	"value":   cty.String,
	"version": cty.Number,
	"arn":     cty.String,
})

// New decodes a data "amazon-parameterstore" body.
func New(body hcl.Body, ectx *hcl.EvalContext) (datasource.Datasource, hcl.Diagnostics) {
	d := &Datasource{}
	diags := hclconf.Decode(body, ectx, &d.cfg)
	diags = append(diags, d.cfg.AccessConfig.Validate(body)...)
	if diags.HasErrors() {
		return nil, diags
	}
	return d, diags
}

// OutputType is an object with value, version and arn.
func (d *Datasource) OutputType() cty.Type { return outputType }

// Execute reads the parameter.
func (d *Datasource) Execute(ctx context.Context) (cty.Value, error) {
	cfg, err := d.cfg.Load(ctx, "")
	if err != nil {
		return cty.NilVal, err
	}
	out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{
		Name:           aws.String(d.cfg.Name),
		WithDecryption: aws.Bool(d.cfg.WithDecryption),
	})
	if err != nil {
		return cty.NilVal, fmt.Errorf("get SSM parameter %s: %w", d.cfg.Name, err)
	}
	p := out.Parameter
	if p == nil {
		return cty.NilVal, fmt.Errorf("get SSM parameter %s: the answer holds no parameter", d.cfg.Name)
	}
	d.secure = p.Type == ssmtypes.ParameterTypeSecureString && d.cfg.WithDecryption
	return cty.ObjectVal(map[string]cty.Value{
		"value":   cty.StringVal(aws.ToString(p.Value)),
		"version": cty.NumberIntVal(p.Version),
		"arn":     cty.StringVal(aws.ToString(p.ARN)),
	}), nil
}

// Secrets returns the value of a SecureString parameter read with
// with_decryption: kiln redacts it everywhere, wrapped in a sensitive local
// or not.
func (d *Datasource) Secrets(out cty.Value) []string {
	if !d.secure {
		return nil
	}
	return []string{out.GetAttr("value").AsString()}
}

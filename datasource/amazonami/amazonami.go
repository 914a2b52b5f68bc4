package amazonami

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/datasource"
	"github.com/kilnhq/kiln/internal/awsimage"
	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/internal/compconf"
	"github.com/kilnhq/kiln/internal/hclconf"
)

// Type is the data block type label.
const Type = "amazon-ami"

// Config holds the options of a data "amazon-ami" block.
type Config struct {
	awsutil.AccessConfig `hcl:",squash"`
	awsimage.Filter      `hcl:",squash"`
}

// Datasource looks up one AMI.
type Datasource struct {
	cfg Config
}

var outputType = cty.Object(map[string]cty.Type{
	"id":               cty.String,
	"name":             cty.String,
	"creation_date":    cty.String,
	"owner":            cty.String,
	"owner_name":       cty.String,
	"root_device_type": cty.String,
	"tags":             cty.Map(cty.String),
})

// New decodes a data "amazon-ami" body.
func New(body hcl.Body, ectx *hcl.EvalContext) (datasource.Datasource, hcl.Diagnostics) {
	d := &Datasource{}
	diags := hclconf.Decode(body, ectx, &d.cfg)
	diags = append(diags, d.cfg.AccessConfig.Validate(body)...)
	attrs := compconf.BodyAttrs(body, "filters", "owners")
	if !attrs.Has("filters") && !attrs.Has("owners") {
		diags = append(diags, attrs.Error("filters", "Missing AMI filter",
			"amazon-ami needs filters or owners (or both) to say which image to find."))
	}
	// As in Packer: without owners, anyone's image could match.
	if attrs.Has("filters") && d.cfg.Filters != nil && !attrs.Has("owners") &&
		d.cfg.Filters["owner-id"] == "" && d.cfg.Filters["owner-alias"] == "" {
		diags = append(diags, attrs.Error("filters", "Missing AMI owner",
			"Set owners (or an owner-id or owner-alias filter): without one, an image anyone published could be chosen."))
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return d, diags
}

// OutputType is an object with id, name, creation_date, owner, owner_name,
// root_device_type and tags.
func (d *Datasource) OutputType() cty.Type { return outputType }

// Execute finds the image.
func (d *Datasource) Execute(ctx context.Context) (cty.Value, error) {
	access := &d.cfg.AccessConfig
	cfg, err := access.Load(ctx, "")
	if err != nil {
		return cty.NilVal, err
	}
	c := ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if access.CustomEndpointEC2 != "" {
			o.BaseEndpoint = aws.String(access.CustomEndpointEC2)
		}
	})
	img, err := awsimage.Find(ctx, c, "", &d.cfg.Filter)
	if err != nil {
		where := ""
		if d.cfg.Region != "" {
			where = " in " + d.cfg.Region
		}
		return cty.NilVal, fmt.Errorf("find AMI%s: %w", where, err)
	}
	tags := map[string]cty.Value{}
	for _, t := range img.Tags {
		tags[aws.ToString(t.Key)] = cty.StringVal(aws.ToString(t.Value))
	}
	tagVal := cty.MapValEmpty(cty.String)
	if len(tags) > 0 {
		tagVal = cty.MapVal(tags)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"id":               cty.StringVal(aws.ToString(img.ImageId)),
		"name":             cty.StringVal(aws.ToString(img.Name)),
		"creation_date":    cty.StringVal(aws.ToString(img.CreationDate)),
		"owner":            cty.StringVal(aws.ToString(img.OwnerId)),
		"owner_name":       cty.StringVal(aws.ToString(img.ImageOwnerAlias)),
		"root_device_type": cty.StringVal(strings.ToLower(string(img.RootDeviceType))),
		"tags":             tagVal,
	}), nil
}

package template

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// HCP Packer is HashiCorp's hosted image registry. kiln publishes nothing to
// it: an hcp_packer_registry block is checked as Packer checks it and
// otherwise left alone, with one warning; the data sources that read the
// registry are errors that name what kiln offers instead.

var hcpRegistrySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "bucket_name"}, {Name: "description"}, {Name: "bucket_labels"}, {Name: "build_labels"},
	// labels is the name bucket_labels had before Packer 1.8.
	{Name: "labels"},
}}

// bucketNameRE is what HCP Packer accepts as a bucket name: 3 to 36
// letters, digits and hyphens, starting and ending with a letter or a digit.
var bucketNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{1,34}[A-Za-z0-9]$`)

// maxHCPDescription is the longest description HCP Packer takes.
const maxHCPDescription = 255

// decodeHCPRegistry checks the body of an hcp_packer_registry block, top
// level or in a build, and records the block for checkHCPRegistries.
func (l *loader) decodeHCPRegistry(blk *hcl.Block, ctx *hcl.EvalContext) hcl.Diagnostics {
	l.hcpBlocks = append(l.hcpBlocks, blk)
	content, diags := blk.Body.Content(hcpRegistrySchema)
	attrs := content.Attributes
	if a, ok := attrs["bucket_name"]; ok {
		var name string
		diags = append(diags, decodeString(a, ctx, &name)...)
		if name != "" && !bucketNameRE.MatchString(name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid bucket_name",
				Detail: fmt.Sprintf("%q is not an HCP Packer bucket name: it must be 3 to 36 letters, digits and hyphens, "+
					"starting and ending with a letter or a digit.", name),
				Subject: a.Expr.Range().Ptr(),
			})
		}
	}
	if a, ok := attrs["description"]; ok {
		var desc string
		diags = append(diags, decodeString(a, ctx, &desc)...)
		if n := utf8.RuneCountInString(desc); n > maxHCPDescription {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Description too long",
				Detail:   fmt.Sprintf("An HCP Packer description has at most %d characters; this one has %d.", maxHCPDescription, n),
				Subject:  a.Expr.Range().Ptr(),
			})
		}
	}
	if a, b := attrs["labels"], attrs["bucket_labels"]; a != nil && b != nil {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Both labels and bucket_labels",
			Detail:   "labels is the old name of bucket_labels: set only bucket_labels.",
			Subject:  a.NameRange.Ptr(),
		})
	}
	for _, name := range []string{"labels", "bucket_labels", "build_labels"} {
		if a, ok := attrs[name]; ok {
			diags = append(diags, decodeLabels(a, ctx)...)
		}
	}
	return diags
}

// decodeLabels checks that a labels attribute is a map of strings.
func decodeLabels(a *hcl.Attribute, ctx *hcl.EvalContext) hcl.Diagnostics {
	val, diags := a.Expr.Value(ctx)
	if diags.HasErrors() || !val.IsWhollyKnown() {
		return diags
	}
	if _, err := convert.Convert(val, cty.Map(cty.String)); err != nil || val.IsNull() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + a.Name,
			Detail:   fmt.Sprintf("%s is a map of strings, such as { team = \"web\" }.", a.Name),
			Subject:  a.Expr.Range().Ptr(),
		})
	}
	return diags
}

// checkHCPRegistries decodes the top-level hcp_packer_registry blocks and
// checks all of them together: at most one at top level, not both at top
// level and in a build, and one warning that kiln does not publish to HCP
// Packer. A build's duplicate is reported by decodeBuild.
func (l *loader) checkHCPRegistries(top hcl.Blocks) hcl.Diagnostics {
	inBuilds := len(l.hcpBlocks)
	var diags hcl.Diagnostics
	for i, blk := range top {
		diags = append(diags, l.decodeHCPRegistry(blk, l.t.evalContext())...)
		if i > 0 {
			diags = append(diags, duplicateHCPRegistry(blk, top[0], "The template has"))
		}
	}
	if len(top) > 0 && inBuilds > 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "hcp_packer_registry both at top level and in a build",
			Detail:   fmt.Sprintf("Packer takes it in one place only; a build has one at %s.", l.hcpBlocks[0].DefRange),
			Subject:  top[0].DefRange.Ptr(),
		})
	}
	if len(l.hcpBlocks) == 0 {
		return diags
	}
	first := slices.MinFunc(l.hcpBlocks, func(a, b *hcl.Block) int {
		return cmp.Or(strings.Compare(a.DefRange.Filename, b.DefRange.Filename), cmp.Compare(a.DefRange.Start.Byte, b.DefRange.Start.Byte))
	})
	return append(diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "kiln does not publish to HCP Packer",
		Detail: "The hcp_packer_registry blocks are checked and otherwise ignored: no image metadata is sent anywhere. " +
			"To version images and pick the latest, give the build a family block (image families, kiln images).",
		Subject: first.DefRange.Ptr(),
	})
}

func duplicateHCPRegistry(blk, prev *hcl.Block, where string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Duplicate hcp_packer_registry block",
		Detail:   fmt.Sprintf("%s at most one; another is defined at %s.", where, prev.DefRange),
		Subject:  blk.DefRange.Ptr(),
	}
}

// hcpDataSources are the data sources that read HCP Packer, with what kiln
// offers instead.
var hcpDataSources = map[string]string{
	"hcp-packer-version":   "a build's family block versions images: kiln images lists a family's versions and finds the latest or a channel's pick",
	"hcp-packer-iteration": "a build's family block versions images: kiln images lists a family's versions and finds the latest or a channel's pick",
	"hcp-packer-artifact":  `data "amazon-ami" finds an image by filters (such as the family tags kiln puts on its images), and data "amazon-parameterstore" reads an image ID published in SSM`,
	"hcp-packer-image":     `data "amazon-ami" finds an image by filters (such as the family tags kiln puts on its images), and data "amazon-parameterstore" reads an image ID published in SSM`,
}

// hcpDataSource returns the error for a data block of an HCP Packer type,
// or nil.
func hcpDataSource(d *Data) hcl.Diagnostics {
	alt, ok := hcpDataSources[d.Type]
	if !ok {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "HCP Packer data sources are not supported",
		Detail:   fmt.Sprintf("kiln does not talk to HCP Packer, so data %q cannot run. Instead, %s.", d.Type, alt),
		Subject:  d.TypeRange.Ptr(),
	}}
}

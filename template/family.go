package template

import (
	"fmt"

	"github.com/Masterminds/semver/v3"
	"github.com/hashicorp/hcl/v2"
)

// Family is a build's family block (a kiln extension): the build's images
// are versions of the family Name. See package family.
type Family struct {
	Name string
	// Version is "auto" (the default), "minor", "major" or a semver
	// version such as "1.4.0".
	Version string
	// Keep is how many versions retention keeps after a successful build;
	// 0 (unset) keeps every version.
	Keep int
	// Channel is the channel a build's image is promoted to once its test
	// block passed (or at once without one); "" promotes nowhere.
	Channel string
	// Test holds the provisioners of the test block, run on a fresh machine
	// booted from the new image; nil without a test block.
	Test      *FamilyTest
	DeclRange hcl.Range
}

// FamilyTest is a family's test block.
type FamilyTest struct {
	Provisioners []*Provisioner
	DeclRange    hcl.Range
}

var familySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "name", Required: true}, {Name: "version"}, {Name: "keep"}, {Name: "channel"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "test"}},
}

var familyTestSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "provisioner", LabelNames: []string{"type"}}},
}

// decodeFamily reads a family block inside build b.
func (l *loader) decodeFamily(blk *hcl.Block, b *Build, checks *[]filterCheck) hcl.Diagnostics {
	content, diags := blk.Body.Content(familySchema)
	if b.Family != nil {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate family block",
			Detail:   fmt.Sprintf("A build belongs to one family; another family block is at %s.", b.Family.DeclRange),
			Subject:  blk.DefRange.Ptr(),
		})
	}
	f := &Family{Version: "auto", DeclRange: blk.DefRange}
	ctx := l.t.evalContext()
	bad := func(attr *hcl.Attribute, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: attr.Expr.Range().Ptr()})
	}
	if a, ok := content.Attributes["name"]; ok {
		diags = append(diags, decodeString(a, ctx, &f.Name)...)
		if !validFamilyName(f.Name) {
			bad(a, "Invalid family name", fmt.Sprintf("%q: a family name is 1 to 64 letters, digits, '-' and '_', starting with a letter or digit.", f.Name))
		}
	}
	if a, ok := content.Attributes["version"]; ok {
		diags = append(diags, decodeString(a, ctx, &f.Version)...)
		switch f.Version {
		case "auto", "minor", "major":
		default:
			if _, err := semver.StrictNewVersion(f.Version); err != nil {
				bad(a, "Invalid family version", fmt.Sprintf(`version must be "auto", "minor", "major" or a version such as "1.4.0", not %q.`, f.Version))
			}
		}
	}
	if a, ok := content.Attributes["keep"]; ok {
		diags = append(diags, decodeInt(a, ctx, &f.Keep)...) // a whole number from 0
	}
	if a, ok := content.Attributes["channel"]; ok {
		diags = append(diags, decodeString(a, ctx, &f.Channel)...)
		if !validChannel(f.Channel) {
			bad(a, "Invalid channel", fmt.Sprintf("%q: a channel name is letters, digits, '.', '-' and '_'.", f.Channel))
		}
	}
	for _, tb := range content.Blocks {
		if f.Test != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate test block",
				Detail:   fmt.Sprintf("A family has one test block; another is at %s.", f.Test.DeclRange),
				Subject:  tb.DefRange.Ptr(),
			})
			continue
		}
		tc, d := tb.Body.Content(familyTestSchema)
		diags = append(diags, d...)
		f.Test = &FamilyTest{DeclRange: tb.DefRange}
		for _, pb := range tc.Blocks {
			p, d := l.decodeProvisioner(pb, b, checks)
			diags = append(diags, d...)
			f.Test.Provisioners = append(f.Test.Provisioners, p)
		}
	}
	b.Family = f
	return diags
}

func validFamilyName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '-' || s[0] == '_' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func validChannel(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

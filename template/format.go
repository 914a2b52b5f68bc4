package template

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src, an HCL native-syntax file named filename, in canonical
// layout (as terraform fmt and packer fmt write it). Input that does not parse
// is refused with its diagnostics, since formatting it could lose text, and so
// is input nested deeper than MaxNestingDepth. JSON files are not HCL native
// syntax and are refused too.
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	if d := checkNesting(src, filename, scanConfig); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	if _, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos); diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), nil
}

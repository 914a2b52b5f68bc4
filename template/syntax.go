package template

import "github.com/hashicorp/hcl/v2"

// checkDeclarations is what WithSyntaxOnly checks beyond parsing, as
// Packer's validate -syntax-only does, with nothing evaluated but variable
// defaults: the packer block (required_version, required_plugins entries
// and their sources), variable declarations (types, defaults, duplicates),
// duplicate locals, data and source blocks, and the attributes and blocks
// of build and hcp_packer_registry blocks. Component bodies wait for a full
// validation. The unknown top-level blocks and missing labels were reported
// when the files' contents were read.
func (l *loader) checkDeclarations(byType map[string]hcl.Blocks) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, b := range byType["packer"] {
		diags = append(diags, l.decodePackerBlock(b)...)
	}
	diags = append(diags, l.declareVariables(byType["variable"], byType["variables"])...)
	_, d := collectValues(valueBlocks{locals: byType["locals"], local: byType["local"], data: byType["data"]})
	diags = append(diags, d...)
	for _, b := range byType["source"] {
		diags = append(diags, l.decodeSource(b)...)
	}
	for _, b := range byType["build"] {
		content, d := b.Body.Content(buildSchema)
		diags = append(diags, d...)
		for _, blk := range content.Blocks {
			if blk.Type == "hcp_packer_registry" {
				_, d := blk.Body.Content(hcpRegistrySchema)
				diags = append(diags, d...)
			}
		}
	}
	for _, b := range byType["hcp_packer_registry"] {
		_, d := b.Body.Content(hcpRegistrySchema)
		diags = append(diags, d...)
	}
	return diags
}

// Package compconf holds what kiln's provisioners and post-processors need
// around hclconf.Decode: which attributes a body sets (so validation can
// reason about attributes whose values are unknown until the build runs),
// diagnostics that point at an attribute, and the rendering of Packer's
// legacy {{ .Name }} strings for one build with template.Legacy.
//
// It sits in kiln's plumbing layer, under the components in provisioner/ and
// postprocessor/.
package compconf

// Package hclconf decodes a component's HCL body into its typed Go config.
//
// It is the second phase of kiln's two-phase configuration: the template keeps
// each source, provisioner and post-processor body raw, and the component that
// owns the schema decodes it with Decode. Compared with gohcl it adds what
// Packer-style options need: embedded ("squash") structs so that communicator
// options can be shared, durations written as "5m", dynamic blocks, and the
// two phases a body is decoded in: to validate, unknown values are left unset
// (data sources and build-time values are not known yet); to run (a context
// from ForRun), an unknown value is an error at its attribute, with the reason
// a NotKnown mark on the value gives. Unknown attributes are errors at their
// range, with a "did you mean" from HCL; Decode returns every diagnostic in
// source order (SortBySource, which package template uses for Load too), so
// that the same body gives the same list on every run.
package hclconf

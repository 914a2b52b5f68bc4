// Package template loads kiln templates: Packer's HCL2 dialect, read from a
// file or a directory of *.pkr.hcl and *.kiln.hcl files.
//
// It sits in the language layer, above the component contracts' users and
// below orchestration: it depends only on hcl and cty. Load parses every file,
// resolves variables (defaults < PKR_VAR_/KILN_VAR_ environment <
// *.auto.pkrvars.hcl < each -var-file < each -var), evaluates locals in
// dependency order, and keeps every source, provisioner and post-processor
// body raw, with its ranges, for its component to decode with the context
// EvalContext returns. All problems are reported at once as hcl.Diagnostics;
// WriteDiagnostics prints them with snippets and without sensitive values.
//
// Format canonicalises a file's layout, and Legacy renders the Go-template
// strings ({{ timestamp }}, {{ .SourceAMI }}) that templates still carry.
//
// The template language is that of Packer PackerVersion: required_version is
// checked against it.
package template

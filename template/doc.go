// Package template loads kiln templates: Packer's HCL2 dialect, read from a
// file or a directory of *.pkr.hcl and *.kiln.hcl files (and their JSON
// forms, *.pkr.json and *.kiln.json).
//
// It is kiln's language layer: it depends only on hcl and cty, and the
// orchestration layer (package build) plans and runs what it loads. Load
// parses every file and reports every problem at once as hcl.Diagnostics with
// ranges. It:
//
//   - declares variables (variable blocks and the legacy variables block) and
//     resolves their values, in increasing precedence: defaults, PKR_VAR_name
//     and then KILN_VAR_name environment variables, *.auto.pkrvars.hcl files
//     of the template directory in lexical order (not read when the template
//     is a single file, as in Packer), each -var-file in order and each -var
//     in order. Values given as strings (environment, -var) are taken
//     literally for string, number, bool and untyped variables and parsed as
//     HCL expressions for collection and structural types;
//   - evaluates locals (locals blocks and local blocks) and data blocks
//     (data "TYPE" "NAME", referenced as data.TYPE.NAME.ATTR) together in
//     dependency order, reporting cycles with their chain and ranges. Data
//     blocks are decoded by the data sources given with WithDataSources;
//     Load never runs them: their values are unknown values of each data
//     source's output type, so references are checked and checks that need
//     the values are deferred, until EvaluateDataSources runs them once and
//     evaluates the locals and builds again with their outputs;
//   - keeps every source, provisioner and post-processor body raw, with its
//     ranges, for the component that owns its schema to decode with the
//     context EvalContext returns. A build's source block with overrides
//     yields a body in which the build's attributes replace the top-level
//     source's. The options kiln applies around every provisioner and
//     post-processor (name, only, except, pause_before, max_retries, timeout,
//     keep_input_artifact, override) are decoded and removed from the body.
//
// Functions are the cty standard library plus Packer's own (timestamp, uuidv4,
// file, fileset, templatefile, yamlencode, env in variable defaults, ...).
// Relative paths in file functions are resolved against the working
// directory, as in Packer; path.root names the template's directory.
// timestamp() returns the run's one timestamp (Template.Now).
//
// Hostile input is refused with a diagnostic that names the file and the
// reason, before it can block, exhaust memory or overflow the stack: the
// loader and the file functions read only regular files (not pipes, devices
// or directories) of at most MaxTemplateFileSize (template and var files) or
// MaxFunctionFileSize (file, filebase64, templatefile) bytes, and HCL parses
// only input nested at most MaxNestingDepth levels deep. Load returns at most
// MaxDiagnostics diagnostics.
//
// WriteDiagnostics prints diagnostics with snippets (of at most SnippetLines
// lines of SnippetColumns bytes) and without sensitive values; SensitiveValues lists them for redaction elsewhere. Format writes a
// file in canonical layout. Legacy renders the Go-template strings
// ({{ timestamp }}, {{ .SourceAMI }}) that templates still carry in names and
// tags, once a builder knows their values.
//
// The language is that of Packer PackerVersion: packer { required_version }
// is checked against it, and packer { required_plugins } is satisfied by the
// plugins kiln embeds (WithEmbeddedPlugins).
package template

// Package template loads kiln templates: Packer's HCL2 dialect, read from a
// file or a directory of *.pkr.hcl and *.kiln.hcl files (and their JSON
// forms, *.pkr.json and *.kiln.json).
//
// It is kiln's language layer; the orchestration layer (package build) plans
// and runs what it loads. It imports hcl and cty (with go-cty-yaml for
// yamlencode), a version library and a glob library (for packer {
// required_version } and only/except) and two pieces of kiln's plumbing:
// internal/registry for "did you mean" suggestions and internal/hclconf for
// the mark that says why a value is not known. It imports no component and no
// contract package: data sources reach it through its own DataSources
// interface, which package kiln implements over the data source registry.
//
// Load parses every file and reports every problem at once as
// hcl.Diagnostics with ranges. It:
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
//     the values are deferred, until EvaluateDataSources runs them and
//     evaluates the locals and builds again with their outputs. A success
//     is kept: each data source runs once per template. A failure leaves
//     them pending, so the next call runs them again; until then the values
//     that depend on the failed one are unknown and marked with the reason,
//     which a component decoded to run (hclconf.ForRun) reports at its
//     attribute. The evaluation is one dependency graph, in eval.go;
//   - keeps every source, provisioner and post-processor body raw, with its
//     ranges, for the component that owns its schema to decode with the
//     context EvalContext returns. A build's source block with overrides
//     yields a body in which the build's attributes replace the top-level
//     source's. The options kiln applies around every provisioner and
//     post-processor (name, only, except, pause_before, max_retries, timeout,
//     keep_input_artifact, override) are decoded and removed from the body.
//
// Functions are Packer 1.16's library with Packer's semantics: the cty
// standard library plus Packer's own (timestamp, legacy_isotime and
// legacy_strftime, uuidv4 and uuidv5, file, fileset, templatefile, cidrhost
// and the other cidr functions, index, sum, alltrue, anytrue, convert,
// textencodebase64, base64gzip, urlencode, bcrypt, rsadecrypt, rfc3339_parse,
// unix_timestamp_parse, env in variable defaults, ...). Relative paths in
// file functions are resolved against the working directory, as in Packer;
// path.root names the template's directory. timestamp(), legacy_isotime and
// legacy_strftime read the run's one timestamp (Template.Now). vault() and
// consul_key() are known but not supported: kiln embeds no Vault or Consul
// client, and every call is an error at the call that says so.
//
// packer.version is PackerVersion; packer.iterationID is the run's
// Template.IterationID, a random UUID; packer.versionFingerprint is
// HCP_PACKER_BUILD_FINGERPRINT from the environment when set, as in Packer,
// and otherwise the iteration ID (kiln uses no HCP Packer registry).
//
// Load's diagnostics come in source order (file, line, column), the same on
// every run.
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
// plugins kiln embeds (WithEmbeddedPlugins); a plugin it lacks is a warning,
// or an error when one of its components (type labels NAME or NAME-...) is
// used. hcp_packer_registry blocks are checked as Packer checks them and
// otherwise ignored with a warning (kiln publishes to no HCP Packer
// registry; image families are its versioning); the hcp-packer-* data
// sources are errors that name kiln's alternative (hcp.go). WithSyntaxOnly
// checks the declarations without evaluating anything but variable defaults,
// as Packer's validate -syntax-only does (syntax.go).
package template

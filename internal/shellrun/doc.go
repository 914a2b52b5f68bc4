// Package shellrun holds what kiln's shell-type components share: the options
// Packer's shell, shell-local provisioner and shell-local post-processor have
// in common (inline, script, scripts, environment_vars, env, env_var_format,
// valid_exit_codes), their validation with diagnostics on the attribute,
// environment variables quoted for sh, the inline script, and a writer that
// turns command output into event.Output lines.
//
// Legacy {{ .Name }} strings are rendered with template.Legacy, so that a
// provisioner sees the same functions and data as builder names and tags.
//
// It sits in kiln's plumbing layer, under provisioner/shell,
// provisioner/file, internal/localexec and the post-processors.
package shellrun

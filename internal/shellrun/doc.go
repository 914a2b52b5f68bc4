// Package shellrun holds what kiln's shell-type components share: the
// options Packer's shell, shell-local provisioner and shell-local
// post-processor have in common (inline, script, scripts, environment_vars,
// env, env_var_format, valid_exit_codes), their validation, values quoted for
// sh, the inline script, and a writer that turns command output into
// event.Output lines.
//
// It sits in kiln's plumbing layer, under provisioner/shell,
// provisioner/file and internal/localexec.
package shellrun

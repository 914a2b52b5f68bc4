package shellrun

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/internal/compconf"
)

// Config is the part of a shell-type component's config that every such
// component has, decoded from the same body with `hcl:",squash"`.
type Config struct {
	// Inline commands are run as one script.
	Inline []string `hcl:"inline,optional"`
	// Script and Scripts are local script files, run in order.
	Script  string   `hcl:"script,optional"`
	Scripts []string `hcl:"scripts,optional"`
	// EnvironmentVars are "KEY=value" pairs; Env overrides them by key.
	EnvironmentVars []string          `hcl:"environment_vars,optional"`
	Env             map[string]string `hcl:"env,optional"`
	// EnvVarFormat is the fmt format of one variable (key, then value);
	// empty means "%s='%s' ".
	EnvVarFormat string `hcl:"env_var_format,optional"`
	// ValidExitCodes default to [0].
	ValidExitCodes []int `hcl:"valid_exit_codes,optional"`
	// InlineShebang is the interpreter line of the inline script; empty
	// means "/bin/sh -e".
	InlineShebang string `hcl:"inline_shebang,optional"`
}

// DefaultShebang is the inline script's interpreter when none is set.
const DefaultShebang = "/bin/sh -e"

// AttrNames are the attributes Config decodes, for BodyAttrs.
var AttrNames = []string{"inline", "script", "scripts", "environment_vars", "env", "env_var_format", "valid_exit_codes", "inline_shebang"}

// Validate checks c after decoding. sources names the attributes that give
// commands ("inline", "script", "scripts" and, for shell-local, "command"):
// exactly one must be set. Script files that are known must exist.
func (c *Config) Validate(attrs compconf.Attrs, sources []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var set []string
	for _, s := range sources {
		if attrs.Has(s) {
			set = append(set, s)
		}
	}
	switch {
	case len(set) == 0:
		diags = append(diags, attrs.Error("", "Nothing to run", fmt.Sprintf("Set one of %s.", orList(sources))))
	case len(set) > 1:
		diags = append(diags, attrs.Error(set[1], "Conflicting arguments", fmt.Sprintf("Only one of %s may be set; this block sets %s.", orList(sources), strings.Join(set, " and "))))
	}
	// A known empty list would run nothing without a word (an unknown one
	// is left nil by the decoder).
	if c.Inline != nil && len(c.Inline) == 0 {
		diags = append(diags, attrs.Error("inline", "Nothing to run", "inline is empty."))
	}
	if c.Scripts != nil && len(c.Scripts) == 0 {
		diags = append(diags, attrs.Error("scripts", "Nothing to run", "scripts is empty."))
	}
	for _, p := range c.ScriptPaths() {
		if _, err := os.Stat(p); err != nil {
			name := "scripts"
			if c.Script != "" {
				name = "script"
			}
			diags = append(diags, attrs.Error(name, "Script not found", fmt.Sprintf("Cannot read script %q: %v.", p, err)))
		}
	}
	for _, kv := range c.EnvironmentVars {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			diags = append(diags, attrs.Error("environment_vars", "Invalid environment variable", fmt.Sprintf("%q is not in the form KEY=value.", kv)))
		}
	}
	for k := range c.Env {
		if k == "" || strings.ContainsAny(k, "= \t\n") {
			diags = append(diags, attrs.Error("env", "Invalid environment variable", fmt.Sprintf("%q is not a valid variable name.", k)))
		}
	}
	if c.EnvVarFormat != "" && strings.Count(c.EnvVarFormat, "%s") != 2 {
		diags = append(diags, attrs.Error("env_var_format", "Invalid env_var_format", "env_var_format must contain exactly two %s: the name, then the value (for example \"%s='%s' \")."))
	}
	return diags
}

// ScriptPaths returns the local script files to run: Script, or Scripts.
func (c *Config) ScriptPaths() []string {
	if c.Script != "" {
		return []string{c.Script}
	}
	return c.Scripts
}

// ValidExit reports whether code is one of the valid exit codes.
func (c *Config) ValidExit(code int) bool {
	if len(c.ValidExitCodes) == 0 {
		return code == 0
	}
	return slices.Contains(c.ValidExitCodes, code)
}

func orList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

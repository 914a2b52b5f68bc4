package shellrun

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// DefaultEnvVarFormat is how one variable is written before a command.
const DefaultEnvVarFormat = "%s='%s' "

// Render expands legacy {{ .Name }} strings (see compconf.Legacy).
type Render func(string) (string, error)

// Vars returns the environment a command gets: base first (PACKER_BUILD_NAME
// and friends), then environment_vars, then env, each later one overriding an
// earlier one with the same name. Values go through render.
func (c *Config) Vars(base map[string]string, render Render) (map[string]string, error) {
	vars := maps.Clone(base)
	if vars == nil {
		vars = map[string]string{}
	}
	for _, kv := range c.EnvironmentVars {
		k, v, _ := strings.Cut(kv, "=")
		r, err := render(v)
		if err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", k, err)
		}
		vars[k] = r
	}
	for k, v := range c.Env {
		r, err := render(v)
		if err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", k, err)
		}
		vars[k] = r
	}
	return vars, nil
}

// Flatten writes vars in name order with format (DefaultEnvVarFormat when
// empty), each value made safe inside single quotes: a ' becomes '"'"'.
func Flatten(vars map[string]string, format string) string {
	if format == "" {
		format = DefaultEnvVarFormat
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		fmt.Fprintf(&b, format, k, escapeSingle(vars[k]))
	}
	return b.String()
}

// Quote returns s quoted for sh: in single quotes, with any ' escaped.
func Quote(s string) string { return "'" + escapeSingle(s) + "'" }

func escapeSingle(s string) string { return strings.ReplaceAll(s, "'", `'"'"'`) }

// InlineScript returns the script that runs the inline commands: the shebang
// line (DefaultShebang when empty), then each command, rendered, on its own line.
func (c *Config) InlineScript(render Render) ([]byte, error) {
	shebang := c.InlineShebang
	if shebang == "" {
		shebang = DefaultShebang
	}
	var b strings.Builder
	b.WriteString("#!" + shebang + "\n")
	for i, line := range c.Inline {
		r, err := render(line)
		if err != nil {
			return nil, fmt.Errorf("inline command %d: %w", i+1, err)
		}
		b.WriteString(r + "\n")
	}
	return []byte(b.String()), nil
}

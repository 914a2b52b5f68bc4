package compconf

import (
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/template"
)

// Legacy returns a function that renders Packer's legacy {{ .Name }}
// strings (template.Legacy) for the build described by info, with data (the
// builder's values plus any the caller adds) as the dot.
func Legacy(info builder.Info, data map[string]string) func(string) (string, error) {
	return template.Legacy{Now: info.Started, BuildName: info.SourceName, BuildType: info.Type, Data: data}.Render
}

// CheckSyntax returns an error diagnostic on attribute name when the legacy
// string s cannot be parsed, for validating options such as execute_command
// when they are decoded. Values that only exist at run time are not checked.
func (a Attrs) CheckSyntax(name, s string) hcl.Diagnostics {
	_, err := template.Legacy{}.Render(s)
	if err != nil && strings.HasPrefix(err.Error(), "parse ") {
		return hcl.Diagnostics{a.Error(name, "Invalid "+name, err.Error())}
	}
	return nil
}

// With returns a copy of data with the extra key-value pairs added.
func With(data map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(data)+len(kv)/2)
	for k, v := range data {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

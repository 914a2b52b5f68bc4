package shellrun

import (
	"fmt"
	"strings"
	"text/template"
)

// Legacy returns a Render for Packer's legacy {{ .Name }} strings, with data
// (the builder's values plus any the caller adds) as the dot. A string
// without "{{" is returned unchanged.
func Legacy(data map[string]string) Render {
	return func(s string) (string, error) {
		if !strings.Contains(s, "{{") {
			return s, nil
		}
		return Exec(s, data)
	}
}

// Parse checks that s is a valid Go template, for validating options such as
// execute_command when they are decoded.
func Parse(s string) error {
	_, err := template.New("").Option("missingkey=zero").Parse(s)
	return err
}

// Exec executes the Go template s with data as the dot. A missing key
// expands to the empty string, as in Packer.
func Exec(s string, data map[string]string) (string, error) {
	t, err := template.New("").Option("missingkey=zero").Parse(s)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", s, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %q: %w", s, err)
	}
	return b.String(), nil
}

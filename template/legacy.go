package template

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Legacy renders the Go-template strings that Packer templates still carry in
// names and tags ("ami-{{ timestamp }}", "{{ .SourceAMIName }}"). A builder
// fills Data with the values it knows (BuildRegion, SourceAMI, SourceAMIName,
// ID, ...) and renders the strings late, when those values exist.
type Legacy struct {
	// Now is the run's timestamp (Template.Now).
	Now       time.Time
	BuildName string
	BuildType string
	// Data holds the values of {{ .Name }} fields.
	Data map[string]string
}

// Render renders s. A string without "{{" is returned unchanged. Functions, as
// in Packer: timestamp (Unix seconds of Now), isotime ["layout"] (Now in UTC,
// RFC 3339 by default), uuid, build_name, build_type, clean_resource_name,
// upper, lower, split S SEP INDEX, replace OLD NEW N S, replace_all OLD NEW S.
// A field missing from Data is an error naming it.
func (l Legacy) Render(s string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	now := l.Now.UTC()
	funcs := template.FuncMap{
		"timestamp": func() string { return strconv.FormatInt(now.Unix(), 10) },
		"isotime": func(layout ...string) (string, error) {
			switch len(layout) {
			case 0:
				return now.Format(time.RFC3339), nil
			case 1:
				return now.Format(layout[0]), nil
			}
			return "", errors.New("isotime takes at most one layout")
		},
		"uuid":                newUUID,
		"build_name":          func() string { return l.BuildName },
		"build_type":          func() string { return l.BuildType },
		"clean_resource_name": cleanResourceName,
		"upper":               strings.ToUpper,
		"lower":               strings.ToLower,
		"split": func(s, sep string, i int) (string, error) {
			parts := strings.Split(s, sep)
			if i < 0 || i >= len(parts) {
				return "", fmt.Errorf("split: index %d out of range: %q has %d parts", i, s, len(parts))
			}
			return parts[i], nil
		},
		"replace":     func(old, new string, n int, src string) string { return strings.Replace(src, old, new, n) },
		"replace_all": func(old, new, src string) string { return strings.ReplaceAll(src, old, new) },
	}
	tpl, err := template.New("legacy").Funcs(funcs).Option("missingkey=error").Parse(s)
	if err != nil {
		return "", fmt.Errorf("parse legacy template %q: %w", s, err)
	}
	data := l.Data
	if data == nil {
		data = map[string]string{}
	}
	var b strings.Builder
	if err := tpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render legacy template %q: %w", s, err)
	}
	return b.String(), nil
}

// cleanResourceName makes s a valid image name, as Packer's amazon plugin
// does: characters other than letters, digits and ()[] ./-'@_ become "-".
func cleanResourceName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("()[] ./-'@_", r):
			return r
		}
		return '-'
	}, s)
}

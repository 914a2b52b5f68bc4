package template

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
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
// A field missing from Data is an error naming it. So that a string's cost
// stays in proportion to its length, range, template, define and block are
// refused, and a result longer than MaxLegacyOutput is an error.
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
		"replace":     boundedReplace,
		"replace_all": func(old, new, src string) (string, error) { return boundedReplace(old, new, -1, src) },
	}
	tpl, err := template.New("legacy").Funcs(funcs).Option("missingkey=error").Parse(s)
	if err == nil {
		err = checkLegacyTree(tpl)
	}
	if err != nil {
		return "", fmt.Errorf("parse legacy template %q: %w", s, err)
	}
	data := l.Data
	if data == nil {
		data = map[string]string{}
	}
	b := &boundedBuilder{}
	if err := tpl.Execute(b, data); err != nil {
		return "", fmt.Errorf("render legacy template %q: %w", s, err)
	}
	return b.String(), nil
}

// MaxLegacyOutput bounds what a legacy string renders to, and each
// replace or replace_all result inside it.
const MaxLegacyOutput = 1 << 20

var errLegacyTooLong = fmt.Errorf("the result is longer than %d bytes", MaxLegacyOutput)

// boundedBuilder is a strings.Builder that refuses to grow past
// MaxLegacyOutput.
type boundedBuilder struct{ strings.Builder }

func (b *boundedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxLegacyOutput {
		return 0, errLegacyTooLong
	}
	return b.Builder.Write(p)
}

// boundedReplace is strings.Replace, refused when its result would be
// longer than MaxLegacyOutput (nested replaces of "" grow geometrically).
func boundedReplace(old, new string, n int, src string) (string, error) {
	count := strings.Count(src, old)
	if n >= 0 {
		count = min(count, n)
	}
	if len(src)+count*(len(new)-len(old)) > MaxLegacyOutput {
		return "", errLegacyTooLong
	}
	return strings.Replace(src, old, new, n), nil
}

// checkLegacyTree refuses the actions whose cost is not bounded by the
// string's length: range (over a number it loops that many times; nested,
// the counts multiply) and templates that call each other.
func checkLegacyTree(tpl *template.Template) error {
	if len(tpl.Templates()) > 1 {
		return errors.New("define and block are not supported in legacy strings")
	}
	var walk func(parse.Node) error
	walk = func(n parse.Node) error {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return nil
			}
			for _, c := range n.Nodes {
				if err := walk(c); err != nil {
					return err
				}
			}
		case *parse.IfNode:
			return walkBranch(walk, &n.BranchNode)
		case *parse.WithNode:
			return walkBranch(walk, &n.BranchNode)
		case *parse.RangeNode:
			return errors.New("range is not supported in legacy strings")
		case *parse.TemplateNode:
			return errors.New("template is not supported in legacy strings")
		}
		return nil
	}
	if tpl.Tree == nil {
		return nil
	}
	return walk(tpl.Tree.Root)
}

func walkBranch(walk func(parse.Node) error, b *parse.BranchNode) error {
	if err := walk(b.List); err != nil {
		return err
	}
	return walk(b.ElseList)
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

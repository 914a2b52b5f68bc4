package template

import (
	"bytes"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Redacted replaces sensitive values in diagnostics.
const Redacted = "<sensitive>"

// SensitiveValues returns the string form of every value of a sensitive
// variable or local, of the parts of data source outputs that a sensitive
// local uses (data.TYPE.NAME.ATTR), of the secrets data sources report
// (SecretsReporter), and of every string and number inside
// such values, longest first, so that a caller can redact them from what it
// shows. Empty strings and bools are left out: they would redact everything.
func (t *Template) SensitiveValues() []string {
	if t == nil {
		return nil
	}
	seen := map[string]bool{}
	add := func(v cty.Value) {
		walkLeaves(v, func(s string) { seen[s] = true })
	}
	for _, v := range t.Variables {
		if v.Sensitive {
			add(v.Value)
			add(v.Default)
		}
	}
	for _, lv := range t.Locals {
		if lv.Sensitive {
			add(lv.Value)
		}
	}
	for _, v := range t.dataSecrets {
		add(v)
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// walkLeaves calls f with the string form of every known string and number in
// v.
func walkLeaves(v cty.Value, f func(string)) {
	if v == cty.NilVal || !v.IsKnown() || v.IsNull() {
		return
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		if s := v.AsString(); s != "" {
			f(s)
		}
	case ty == cty.Number:
		f(v.AsBigFloat().Text('f', -1))
	case ty.IsCollectionType() || ty.IsObjectType() || ty.IsTupleType():
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			walkLeaves(e, f)
		}
	}
}

// containsSensitive reports whether v holds a string or number that contains
// a sensitive value.
func containsSensitive(v cty.Value, secrets []string) bool {
	found := false
	walkLeaves(v, func(s string) {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				found = true
			}
		}
	})
	return found
}

// redactText replaces every sensitive value in s.
func redactText(s string, secrets []string) string {
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, Redacted)
	}
	return s
}

// WriteDiagnostics prints diags as hcl's text writer does, with file:line:col
// and a snippet of the source, width columns wide (0 for no wrapping), in
// colour if color is set. It writes at most MaxDiagnostics diagnostics (the
// last counting those left out) and snippets of at most SnippetLines lines of
// SnippetColumns bytes. Sensitive values of t never appear: they are
// replaced by "<sensitive>" in summaries and details, masked in snippets, and
// left out of the values the writer lists for an expression. t may be nil.
func (t *Template) WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, color bool, width uint) error {
	var files map[string]*hcl.File
	if t != nil {
		files = t.Files
	}
	return writeDiagnostics(w, files, t.SensitiveValues(), diags, color, width)
}

// WriteDiagnostics prints diags with snippets from files, for use without a
// Template; it knows no sensitive values.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool, width uint) error {
	return writeDiagnostics(w, files, nil, diags, color, width)
}

func writeDiagnostics(w io.Writer, files map[string]*hcl.File, secrets []string, diags hcl.Diagnostics, color bool, width uint) error {
	if len(secrets) > 0 {
		files = maskFiles(files, secrets)
		redacted := make(hcl.Diagnostics, len(diags))
		for i, d := range diags {
			c := *d
			c.Summary = redactText(c.Summary, secrets)
			c.Detail = redactText(c.Detail, secrets)
			if c.EvalContext != nil {
				c.EvalContext = redactContext(c.EvalContext, secrets)
			}
			redacted[i] = &c
		}
		diags = redacted
	}
	for _, d := range capDiagnostics(diags) {
		shown := files
		if f := files[subjectFile(d)]; f != nil && f.Bytes != nil {
			var tf *hcl.File
			tf, d = trimSnippet(f, d)
			shown = map[string]*hcl.File{d.Subject.Filename: tf}
		}
		if err := hcl.NewDiagnosticTextWriter(w, shown, width, color).WriteDiagnostic(d); err != nil {
			return err
		}
	}
	return nil
}

// subjectFile names the file of d's subject; "" when it has none.
func subjectFile(d *hcl.Diagnostic) string {
	if d.Subject == nil {
		return ""
	}
	return d.Subject.Filename
}

// redactContext flattens ctx into one context whose values that hold a
// sensitive value are marked, which the diagnostic writer leaves out.
// Attributes of var and local are marked one by one, so the others still show.
func redactContext(ctx *hcl.EvalContext, secrets []string) *hcl.EvalContext {
	vars := map[string]cty.Value{}
	var chain []*hcl.EvalContext
	for c := ctx; c != nil; c = c.Parent() {
		chain = append(chain, c)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		for k, v := range chain[i].Variables {
			vars[k] = v
		}
	}
	for k, v := range vars {
		if !containsSensitive(v, secrets) {
			continue
		}
		if (k == "var" || k == "local") && v.Type().IsObjectType() && v.IsKnown() && !v.IsNull() {
			attrs := v.AsValueMap()
			for name, a := range attrs {
				if containsSensitive(a, secrets) {
					attrs[name] = a.Mark(Redacted)
				}
			}
			vars[k] = cty.ObjectVal(attrs)
			continue
		}
		vars[k] = v.Mark(Redacted)
	}
	return &hcl.EvalContext{Variables: vars, Functions: ctx.Functions}
}

// maskFiles returns copies of the HCL native-syntax files in which every
// sensitive value inside a string or number literal is replaced by asterisks
// of the same length, so that snippets keep their layout. Other files are
// left out of the result, so they get no snippet.
func maskFiles(files map[string]*hcl.File, secrets []string) map[string]*hcl.File {
	out := make(map[string]*hcl.File, len(files))
	for name, f := range files {
		if strings.HasSuffix(name, ".json") {
			continue
		}
		src := bytes.Clone(f.Bytes)
		tokens, _ := hclsyntax.LexConfig(f.Bytes, name, hcl.InitialPos)
		for _, tok := range tokens {
			switch tok.Type {
			case hclsyntax.TokenQuotedLit, hclsyntax.TokenStringLit, hclsyntax.TokenNumberLit:
			default:
				continue
			}
			lit := src[tok.Range.Start.Byte:tok.Range.End.Byte]
			for _, secret := range secrets {
				for i := 0; ; {
					j := bytes.Index(lit[i:], []byte(secret))
					if j < 0 {
						break
					}
					copy(lit[i+j:], bytes.Repeat([]byte{'*'}, len(secret)))
					i += j + len(secret)
				}
			}
		}
		out[name] = &hcl.File{Body: f.Body, Bytes: src, Nav: f.Nav}
	}
	return out
}

package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/template"
)

func runInspect(_ context.Context, args []string, io stdio) int {
	fs := newFlagSet("inspect", "[options] PATH",
		`Shows a template's variables with their resolved values (sensitive ones as
<sensitive>), its locals, its data sources (not run: values from them are
unknown), its sources, and its builds with their provisioners
and post-processors. PATH is a template file or a directory of them.`, io)
	var lf loadFlags
	lf.register(fs)
	color := fs.Bool("color", true, "colour diagnostics on a terminal")
	if code := parseFlags(fs, args, io); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return usageError(fs, "expected one PATH, got %d", fs.NArg())
	}
	tpl, diags := loadTemplate(fs.Arg(0), lf.options()...)
	writeDiagnostics(io, tpl, diags, *color)
	if diags.HasErrors() {
		return exitFailed
	}
	writeInspect(io.out, tpl)
	return exitOK
}

// writeInspect prints what tpl holds, sorted so that the output is stable.
func writeInspect(w io.Writer, tpl *template.Template) {
	fmt.Fprintf(w, "> variables:\n\n")
	if len(tpl.Variables) == 0 {
		fmt.Fprintf(w, "  (none)\n")
	}
	for _, name := range sortedKeys(tpl.Variables) {
		v := tpl.Variables[name]
		line := fmt.Sprintf("  var.%s: %s", name, valueString(v.Value, v.Sensitive))
		if v.Description != "" {
			line += "  # " + v.Description
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "\n> locals:\n\n")
	if len(tpl.Locals) == 0 {
		fmt.Fprintf(w, "  (none)\n")
	}
	for _, name := range sortedKeys(tpl.Locals) {
		l := tpl.Locals[name]
		fmt.Fprintf(w, "  local.%s: %s\n", name, valueString(l.Value, l.Sensitive))
	}
	writeRefs(w, "data sources", "data.", tpl.Data)
	writeRefs(w, "sources", "source.", tpl.Sources)
	fmt.Fprintf(w, "\n> builds:\n")
	if len(tpl.Builds) == 0 {
		fmt.Fprintf(w, "\n  (none)\n")
	}
	for i, b := range tpl.Builds {
		name := b.Name
		if name == "" {
			name = fmt.Sprintf("(unnamed build %d)", i+1)
		}
		fmt.Fprintf(w, "\n  > %s", name)
		if b.Description != "" {
			fmt.Fprintf(w, ": %s", b.Description)
		}
		fmt.Fprintf(w, "\n\n    sources:\n")
		for _, s := range b.Sources {
			fmt.Fprintf(w, "      %s", s.FullName(b))
			if s.Name != s.Ref.Name {
				fmt.Fprintf(w, " (from source.%s)", s.Ref)
			}
			fmt.Fprintln(w)
		}
		if len(b.Provisioners) > 0 || b.ErrorCleanupProvisioner != nil {
			fmt.Fprintf(w, "\n    provisioners:\n")
			for _, p := range b.Provisioners {
				fmt.Fprintf(w, "      %s\n", componentLine(p.Type, p.Name, p.Only, p.Except))
			}
			if p := b.ErrorCleanupProvisioner; p != nil {
				fmt.Fprintf(w, "      %s (error-cleanup-provisioner)\n", componentLine(p.Type, p.Name, p.Only, p.Except))
			}
		}
		if len(b.PostProcessors) > 0 {
			fmt.Fprintf(w, "\n    post-processors:\n")
			for i, chain := range b.PostProcessors {
				var parts []string
				for _, pp := range chain {
					parts = append(parts, componentLine(pp.Type, pp.Name, pp.Only, pp.Except))
				}
				fmt.Fprintf(w, "      %d: %s\n", i, strings.Join(parts, " -> "))
			}
		}
	}
}

// componentLine describes a provisioner or post-processor: its type, its
// name and its source filters.
func componentLine(typ, name string, only, except []string) string {
	s := typ
	if name != "" {
		s += fmt.Sprintf(" %q", name)
	}
	if len(only) > 0 {
		s += " only=" + strings.Join(only, ",")
	}
	if len(except) > 0 {
		s += " except=" + strings.Join(except, ",")
	}
	return s
}

// valueString renders v as HCL, or <sensitive>.
func valueString(v cty.Value, sensitive bool) string {
	switch {
	case sensitive, v != cty.NilVal && v.ContainsMarked():
		return "<sensitive>"
	case v == cty.NilVal:
		return "<unset>"
	case !v.IsWhollyKnown():
		return "<unknown>"
	}
	// Lines after the first are indented under the name they belong to.
	return strings.ReplaceAll(strings.TrimSpace(string(hclwrite.TokensForValue(v).Bytes())), "\n", "\n    ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// writeRefs writes a section listing the keys of blocks, sorted, each with
// prefix, or "(none)".
func writeRefs[K interface {
	comparable
	fmt.Stringer
}, V any](w io.Writer, heading, prefix string, blocks map[K]V) {
	fmt.Fprintf(w, "\n> %s:\n\n", heading)
	refs := make([]string, 0, len(blocks))
	for ref := range blocks {
		refs = append(refs, ref.String())
	}
	sort.Strings(refs)
	if len(refs) == 0 {
		fmt.Fprintf(w, "  (none)\n")
	}
	for _, r := range refs {
		fmt.Fprintf(w, "  %s%s\n", prefix, r)
	}
}

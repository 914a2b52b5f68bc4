package hclconf

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// A body is decoded in one of two phases. To validate a template, values
// that are only known once a build runs (data sources, build.*) are unknown,
// and Decode leaves the fields they set unchanged. To run a component, every
// value must be known: Decode with a context from ForRun reports a value that
// is still unknown as an error at its attribute.

// runKey is the variable that marks a context from ForRun. It is not an
// identifier, so no expression can refer to it.
const runKey = "kiln:run"

// ForRun returns a copy of ectx for decoding the body of a component that
// is about to run.
func ForRun(ectx *hcl.EvalContext) *hcl.EvalContext {
	out := &hcl.EvalContext{Variables: map[string]cty.Value{}}
	if ectx != nil {
		out.Variables = maps.Clone(ectx.Variables)
		out.Functions = ectx.Functions
		// Variables of ectx's parents stay visible.
		for p := ectx.Parent(); p != nil; p = p.Parent() {
			for k, v := range p.Variables {
				if _, ok := out.Variables[k]; !ok {
					out.Variables[k] = v
				}
			}
			if out.Functions == nil {
				out.Functions = p.Functions
			}
		}
	}
	out.Variables[runKey] = cty.True
	return out
}

// Running reports whether ectx (or a context it is a child of) came from
// ForRun.
func Running(ectx *hcl.EvalContext) bool {
	for c := ectx; c != nil; c = c.Parent() {
		if _, ok := c.Variables[runKey]; ok {
			return true
		}
	}
	return false
}

// NotKnown is a cty mark on an unknown value that says why the value is not
// known, in words that follow "not known when the build runs: ", such as
// "it depends on data.http.x, which failed". Marks travel through
// expressions, so a value computed from a marked one carries the reason too.
type NotKnown string

// notKnown is the error for attr, whose value val is not wholly known while
// running.
func notKnown(attr *hcl.Attribute, ectx *hcl.EvalContext, val cty.Value) *hcl.Diagnostic {
	_, marks := val.UnmarkDeep()
	var reasons []string
	for m := range marks {
		if r, ok := m.(NotKnown); ok {
			reasons = append(reasons, string(r))
		}
	}
	if len(reasons) == 0 {
		// Without a reason, name the references that are not known.
		for _, tr := range attr.Expr.Variables() {
			if v, diags := tr.TraverseAbs(ectx); !diags.HasErrors() && !v.IsWhollyKnown() {
				reasons = append(reasons, "it depends on "+traversalName(tr)+", which is not known")
			}
		}
	}
	slices.Sort(reasons)
	detail := fmt.Sprintf("%s is not known when the build runs", attr.Name)
	if len(reasons) > 0 {
		detail += ": " + strings.Join(slices.Compact(reasons), "; ")
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Unknown value for %s", attr.Name),
		Detail:   detail + ".",
		Subject:  attr.Expr.Range().Ptr(),
	}
}

// traversalName writes tr as it reads in a template, up to its first index:
// "local.body", "build.ID".
func traversalName(tr hcl.Traversal) string {
	name := tr.RootName()
	for _, step := range tr[1:] {
		a, ok := step.(hcl.TraverseAttr)
		if !ok {
			break
		}
		name += "." + a.Name
	}
	return name
}

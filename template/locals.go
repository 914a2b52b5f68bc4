package template

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"
)

// localDecl is a local value before evaluation.
type localDecl struct {
	local *Local
	expr  hcl.Expression
	deps  []string
	// failed is set when the local cannot be evaluated (a bad reference or a
	// cycle): its value is then unknown, so errors do not cascade.
	failed bool
}

var localSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "expression", Required: true}, {Name: "sensitive"},
}}

// decodeLocals reads locals blocks and local blocks and evaluates every local
// in dependency order.
func (l *loader) decodeLocals(blocks, single hcl.Blocks) hcl.Diagnostics {
	var diags hcl.Diagnostics
	decls := map[string]*localDecl{}
	var order []*localDecl
	add := func(name string, rng hcl.Range, expr hcl.Expression, sensitive bool) {
		if prev, ok := decls[name]; ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate local value",
				Detail:   fmt.Sprintf("The local %q was already defined at %s.", name, prev.local.DeclRange),
				Subject:  rng.Ptr(),
			})
			return
		}
		d := &localDecl{local: &Local{Name: name, Sensitive: sensitive, DeclRange: rng}, expr: expr}
		decls[name] = d
		order = append(order, d)
	}
	for _, b := range blocks {
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for _, attr := range sortedAttributes(attrs) {
			add(attr.Name, attr.NameRange, attr.Expr, false)
		}
	}
	for _, b := range single {
		content, d := b.Body.Content(localSchema)
		diags = append(diags, d...)
		attr, ok := content.Attributes["expression"]
		if !ok {
			continue
		}
		var sensitive bool
		if s, ok := content.Attributes["sensitive"]; ok {
			diags = append(diags, gohcl.DecodeExpression(s.Expr, nil, &sensitive)...)
		}
		add(b.Labels[0], b.LabelRanges[0], attr.Expr, sensitive)
	}

	for _, d := range order {
		for _, tr := range d.expr.Variables() {
			if tr.RootName() != "local" || len(tr) < 2 {
				continue
			}
			a, ok := tr[1].(hcl.TraverseAttr)
			if !ok {
				continue
			}
			if _, ok := decls[a.Name]; !ok {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reference to undeclared local value",
					Detail:   fmt.Sprintf("No local named %q is defined%s.", a.Name, suggestIn(a.Name, decls)),
					Subject:  tr.SourceRange().Ptr(),
				})
				d.failed = true
				continue
			}
			d.deps = append(d.deps, a.Name)
		}
	}

	sorted, d := sortLocals(order, decls)
	diags = append(diags, d...)
	values := map[string]cty.Value{}
	ctx := &hcl.EvalContext{Variables: l.t.baseVariables(), Functions: l.t.funcs}
	for _, d := range sorted {
		val := cty.DynamicVal
		if !d.failed {
			ctx.Variables["local"] = cty.ObjectVal(values)
			v, dd := d.expr.Value(ctx)
			diags = append(diags, dd...)
			if !dd.HasErrors() {
				val = v
			}
		}
		d.local.Value = val
		values[d.local.Name] = val
		l.t.Locals[d.local.Name] = d.local
	}
	return diags
}

// sortLocals orders locals so that each comes after the locals it uses, and
// reports every cycle with its chain.
func sortLocals(order []*localDecl, decls map[string]*localDecl) ([]*localDecl, hcl.Diagnostics) {
	const (
		unvisited = iota
		visiting
		done
	)
	var diags hcl.Diagnostics
	state := map[string]int{}
	var stack []*localDecl
	var out []*localDecl
	var visit func(d *localDecl)
	visit = func(d *localDecl) {
		state[d.local.Name] = visiting
		stack = append(stack, d)
		for _, dep := range d.deps {
			next := decls[dep]
			switch state[dep] {
			case unvisited:
				visit(next)
			case visiting:
				i := len(stack) - 1
				for stack[i] != next {
					i--
				}
				cycle := stack[i:]
				names := make([]string, 0, len(cycle)+1)
				where := make([]string, 0, len(cycle))
				for _, c := range cycle {
					c.failed = true
					names = append(names, c.local.Name)
					where = append(where, fmt.Sprintf("%s at %s", c.local.Name, c.local.DeclRange))
				}
				names = append(names, next.local.Name)
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Cycle in local values: " + strings.Join(names, " -> "),
					Detail: fmt.Sprintf("Each of these locals depends on the next, so none can be evaluated: %s.",
						strings.Join(where, "; ")),
					Subject: next.local.DeclRange.Ptr(),
				})
			}
			if decls[dep].failed {
				d.failed = true
			}
		}
		stack = stack[:len(stack)-1]
		state[d.local.Name] = done
		out = append(out, d)
	}
	for _, d := range order {
		if state[d.local.Name] == unvisited {
			visit(d)
		}
	}
	return out, diags
}

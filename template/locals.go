package template

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"
)

// valueNode is a local value or a data block: the two are evaluated together,
// each after the locals and data blocks it uses.
type valueNode struct {
	// Exactly one of local and data is set.
	local *Local
	expr  hcl.Expression // the local's expression
	data  *Data
	deps  []*valueNode
	// failed is set when the node cannot be evaluated (a bad reference, a
	// cycle, a failed dependency): its value is then unknown, so errors do
	// not cascade.
	failed bool
}

// name is how the node is referenced: local.NAME or data.TYPE.NAME.
func (n *valueNode) name() string {
	if n.local != nil {
		return "local." + n.local.Name
	}
	return "data." + n.data.Type + "." + n.data.Name
}

func (n *valueNode) declRange() hcl.Range {
	if n.local != nil {
		return n.local.DeclRange
	}
	return n.data.DeclRange
}

var localSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "expression", Required: true}, {Name: "sensitive"},
}}

// valueBlocks are the blocks that declare locals and data sources.
type valueBlocks struct {
	locals, local, data hcl.Blocks
}

// decodeValues reads locals blocks, local blocks and data blocks and
// evaluates them in dependency order. Data sources are executed under ctx
// when execute is set; otherwise each data block's value is an unknown value
// of its data source's output type.
func (l *loader) decodeValues(ctx context.Context, execute bool, blocks valueBlocks) hcl.Diagnostics {
	var diags hcl.Diagnostics
	locals := map[string]*valueNode{}
	datas := map[DataRef]*valueNode{}
	var order []*valueNode
	addLocal := func(name string, rng hcl.Range, expr hcl.Expression, sensitive bool) {
		if prev, ok := locals[name]; ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate local value",
				Detail:   fmt.Sprintf("The local %q was already defined at %s.", name, prev.local.DeclRange),
				Subject:  rng.Ptr(),
			})
			return
		}
		n := &valueNode{local: &Local{Name: name, Sensitive: sensitive, DeclRange: rng}, expr: expr}
		locals[name] = n
		order = append(order, n)
	}
	for _, b := range blocks.locals {
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for _, attr := range sortedAttributes(attrs) {
			addLocal(attr.Name, attr.NameRange, attr.Expr, false)
		}
	}
	for _, b := range blocks.local {
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
		addLocal(b.Labels[0], b.LabelRanges[0], attr.Expr, sensitive)
	}
	for _, b := range blocks.data {
		d := newData(b)
		if prev, ok := datas[d.DataRef]; ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate data block",
				Detail:   fmt.Sprintf("The data source %s was already defined at %s.", d.DataRef, prev.data.DeclRange),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		n := &valueNode{data: d}
		datas[d.DataRef] = n
		order = append(order, n)
	}

	for _, n := range order {
		diags = append(diags, n.resolveDeps(locals, datas)...)
	}
	sorted, d := sortValues(order)
	diags = append(diags, d...)

	l.t.dataSecrets = nil
	localVals := map[string]cty.Value{}
	dataVals := map[DataRef]cty.Value{}
	vars := l.t.baseVariables()
	for _, n := range sorted {
		vars["local"] = cty.ObjectVal(localVals)
		vars["data"] = dataObject(dataVals)
		ectx := &hcl.EvalContext{Variables: vars, Functions: l.t.funcs}
		if n.local != nil {
			val := cty.DynamicVal
			if !n.failed {
				v, dd := n.expr.Value(ectx)
				diags = append(diags, dd...)
				if !dd.HasErrors() {
					val = v
				}
			}
			n.local.Value = val
			localVals[n.local.Name] = val
			l.t.Locals[n.local.Name] = n.local
			if n.local.Sensitive && !n.failed {
				l.t.dataSecrets = append(l.t.dataSecrets, dataReferenced(n.expr, dataVals)...)
			}
			continue
		}
		if !n.failed {
			diags = append(diags, l.evalData(ctx, execute, n.data, ectx)...)
		}
		dataVals[n.data.DataRef] = n.data.Value
		l.t.Data[n.data.DataRef] = n.data
	}
	return diags
}

// resolveDeps finds the locals and data blocks n refers to, reporting
// references to ones that do not exist.
func (n *valueNode) resolveDeps(locals map[string]*valueNode, datas map[DataRef]*valueNode) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var traversals []hcl.Traversal
	if n.local != nil {
		traversals = n.expr.Variables()
	} else {
		traversals = bodyTraversals(n.data.Body)
	}
	for _, tr := range traversals {
		switch tr.RootName() {
		case "local":
			name, ok := traverseName(tr, 1)
			if !ok {
				continue
			}
			dep, ok := locals[name]
			if !ok {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reference to undeclared local value",
					Detail:   fmt.Sprintf("No local named %q is defined%s.", name, suggestIn(name, locals)),
					Subject:  tr.SourceRange().Ptr(),
				})
				n.failed = true
				continue
			}
			n.deps = append(n.deps, dep)
		case "data":
			typ, ok1 := traverseName(tr, 1)
			name, ok2 := traverseName(tr, 2)
			if !ok1 || !ok2 {
				continue
			}
			ref := DataRef{Type: typ, Name: name}
			dep, ok := datas[ref]
			if !ok {
				known := map[string]bool{}
				for r := range datas {
					known[r.String()] = true
				}
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reference to undeclared data source",
					Detail:   fmt.Sprintf("No data block %s is defined%s.", ref, suggestIn(ref.String(), known)),
					Subject:  tr.SourceRange().Ptr(),
				})
				n.failed = true
				continue
			}
			n.deps = append(n.deps, dep)
		}
	}
	return diags
}

// traverseName returns the attribute name at step i of tr.
func traverseName(tr hcl.Traversal, i int) (string, bool) {
	if len(tr) <= i {
		return "", false
	}
	a, ok := tr[i].(hcl.TraverseAttr)
	return a.Name, ok
}

// sortValues orders nodes so that each comes after the nodes it uses, and
// reports every cycle with its chain and where each link is declared.
func sortValues(order []*valueNode) ([]*valueNode, hcl.Diagnostics) {
	const (
		unvisited = iota
		visiting
		done
	)
	var diags hcl.Diagnostics
	state := map[*valueNode]int{}
	var stack, out []*valueNode
	var visit func(n *valueNode)
	visit = func(n *valueNode) {
		state[n] = visiting
		stack = append(stack, n)
		for _, dep := range n.deps {
			switch state[dep] {
			case unvisited:
				visit(dep)
			case visiting:
				i := len(stack) - 1
				for stack[i] != dep {
					i--
				}
				cycle := stack[i:]
				// A cycle of locals names them as before data blocks
				// existed (a -> b -> a); one with a data block names each
				// node as it is referenced.
				withData := false
				for _, c := range cycle {
					withData = withData || c.data != nil
				}
				name := func(c *valueNode) string {
					if withData {
						return c.name()
					}
					return c.local.Name
				}
				names := make([]string, 0, len(cycle)+1)
				where := make([]string, 0, len(cycle))
				for _, c := range cycle {
					c.failed = true
					names = append(names, name(c))
					where = append(where, fmt.Sprintf("%s at %s", name(c), c.declRange()))
				}
				names = append(names, name(dep))
				summary := "Cycle in local values: "
				if withData {
					summary = "Cycle in local values and data sources: "
				}
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  summary + strings.Join(names, " -> "),
					Detail: fmt.Sprintf("Each of these depends on the next, so none can be evaluated: %s.",
						strings.Join(where, "; ")),
					Subject: dep.declRange().Ptr(),
				})
			}
			if dep.failed {
				n.failed = true
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		out = append(out, n)
	}
	for _, n := range order {
		if state[n] == unvisited {
			visit(n)
		}
	}
	return out, diags
}

package template

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/kilnhq/kiln/internal/hclconf"
)

// Locals and data blocks form one dependency graph: a local may use a data
// source's output and a data block's body may use locals. decodeValues
// evaluates it in four steps, in the order of this file:
//
//  1. collectValues makes a node of every local (locals and local blocks)
//     and data block, reporting duplicates;
//  2. link finds what each node refers to, reporting references to locals
//     and data blocks that do not exist;
//  3. sortValues orders the nodes so that each comes after what it uses,
//     reporting every cycle with its chain and ranges;
//  4. evalLocal and evalData evaluate each node in that order, in a context
//     holding the values evaluated before it.
//
// Load evaluates the graph without running data sources; EvaluateDataSources
// evaluates it again, running them, and decodes the build blocks again with
// the outputs.

// pendingData is what EvaluateDataSources needs to evaluate a template's
// data blocks after Load left them unknown.
type pendingData struct {
	l      *loader
	values valueBlocks
	builds hcl.Blocks
	// reported holds the problems Load reported (diagKey), which
	// EvaluateDataSources does not report again.
	reported map[string]bool
}

func diagKey(d *hcl.Diagnostic) string {
	return fmt.Sprintf("%d|%s|%s|%v", d.Severity, d.Summary, d.Detail, d.Subject)
}

// HasPendingData reports whether the template has data blocks that
// EvaluateDataSources has not run successfully yet.
func (t *Template) HasPendingData() bool { return t.pending != nil }

// EvaluateDataSources runs the template's data sources: each data block is
// executed in dependency order with the locals, which are evaluated again
// with the data sources' outputs, and so are the build blocks. It changes t
// in place, so SensitiveValues then covers sensitive locals made from data.
// It returns the problems Load did not already report.
//
// Once an evaluation succeeds, later calls do nothing: each data source runs
// once per template. An evaluation with errors (a data source failed) leaves
// the data sources pending: the next call runs them all again, and fails the
// same way if the failure remains. Until then, the values that depend on a
// failed data source are unknown and say why, so a component decoded to run
// with one reports it at its attribute. Load itself never runs a data
// source: until this is called, data values are unknown and checks that
// need them are deferred.
func (t *Template) EvaluateDataSources(ctx context.Context) hcl.Diagnostics {
	p := t.pending
	if p == nil {
		return nil
	}
	diags := p.l.decodeValues(ctx, true, p.values)
	t.base = t.baseVariables()
	t.Builds = nil
	for _, b := range p.builds {
		diags = append(diags, p.l.decodeBuild(b)...)
	}
	if !diags.HasErrors() {
		t.pending = nil
	}
	var out hcl.Diagnostics
	for _, d := range diags {
		if !p.reported[diagKey(d)] {
			out = append(out, d)
		}
	}
	return out
}

// valueBlocks are the blocks that declare locals and data sources.
type valueBlocks struct {
	locals, local, data hcl.Blocks
}

// valueNode is a local value or a data block: a node of the graph.
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

// value is the node's value so far.
func (n *valueNode) value() cty.Value {
	if n.local != nil {
		return n.local.Value
	}
	return n.data.Value
}

// valueGraph holds the nodes in declaration order, and by how they are
// referenced.
type valueGraph struct {
	nodes  []*valueNode
	locals map[string]*valueNode
	datas  map[DataRef]*valueNode
}

// decodeValues reads locals blocks, local blocks and data blocks and
// evaluates them in dependency order into t.Locals and t.Data. Data sources
// are executed under ctx when execute is set; otherwise each data block's
// value is an unknown value of its data source's output type.
func (l *loader) decodeValues(ctx context.Context, execute bool, blocks valueBlocks) hcl.Diagnostics {
	g, diags := collectValues(blocks)
	for _, n := range g.nodes {
		diags = append(diags, g.link(n)...)
	}
	sorted, d := sortValues(g.nodes)
	diags = append(diags, d...)

	l.t.Locals = map[string]*Local{}
	l.t.Data = map[DataRef]*Data{}
	l.t.dataSecrets = nil
	localVals := map[string]cty.Value{}
	dataVals := map[DataRef]cty.Value{}
	vars := l.t.baseVariables()
	for _, n := range sorted {
		vars["local"] = cty.ObjectVal(localVals)
		vars["data"] = dataObject(dataVals)
		ectx := &hcl.EvalContext{Variables: vars, Functions: l.t.funcs}
		if n.local != nil {
			diags = append(diags, l.evalLocal(n, ectx, dataVals)...)
			localVals[n.local.Name] = n.local.Value
			l.t.Locals[n.local.Name] = n.local
			continue
		}
		diags = append(diags, l.evalData(ctx, execute, n, ectx)...)
		dataVals[n.data.DataRef] = n.data.Value
		l.t.Data[n.data.DataRef] = n.data
	}
	return diags
}

// Step 1: collect the nodes.

var localSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "expression", Required: true}, {Name: "sensitive"},
}}

// collectValues makes a node of every local and data block.
func collectValues(blocks valueBlocks) (*valueGraph, hcl.Diagnostics) {
	g := &valueGraph{locals: map[string]*valueNode{}, datas: map[DataRef]*valueNode{}}
	var diags hcl.Diagnostics
	for _, b := range blocks.locals {
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for _, attr := range sortedAttributes(attrs) {
			diags = append(diags, g.addLocal(attr.Name, attr.NameRange, attr.Expr, false)...)
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
		diags = append(diags, g.addLocal(b.Labels[0], b.LabelRanges[0], attr.Expr, sensitive)...)
	}
	for _, b := range blocks.data {
		diags = append(diags, g.addData(b)...)
	}
	return g, diags
}

func (g *valueGraph) addLocal(name string, rng hcl.Range, expr hcl.Expression, sensitive bool) hcl.Diagnostics {
	if prev, ok := g.locals[name]; ok {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate local value",
			Detail:   fmt.Sprintf("The local %q was already defined at %s.", name, prev.local.DeclRange),
			Subject:  rng.Ptr(),
		}}
	}
	n := &valueNode{local: &Local{Name: name, Sensitive: sensitive, DeclRange: rng}, expr: expr}
	g.locals[name] = n
	g.nodes = append(g.nodes, n)
	return nil
}

func (g *valueGraph) addData(b *hcl.Block) hcl.Diagnostics {
	d := &Data{
		DataRef:   DataRef{Type: b.Labels[0], Name: b.Labels[1]},
		Body:      b.Body,
		Value:     cty.DynamicVal,
		DeclRange: b.DefRange,
		TypeRange: b.LabelRanges[0],
	}
	if prev, ok := g.datas[d.DataRef]; ok {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate data block",
			Detail:   fmt.Sprintf("The data source %s was already defined at %s.", d.DataRef, prev.data.DeclRange),
			Subject:  b.DefRange.Ptr(),
		}}
	}
	n := &valueNode{data: d}
	g.datas[d.DataRef] = n
	g.nodes = append(g.nodes, n)
	return nil
}

// Step 2: link each node to the nodes it uses.

// link sets n.deps to the locals and data blocks n refers to, reporting
// references to ones that do not exist.
func (g *valueGraph) link(n *valueNode) hcl.Diagnostics {
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
			dep, ok := g.locals[name]
			if !ok {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reference to undeclared local value",
					Detail:   fmt.Sprintf("No local named %q is defined%s.", name, suggestIn(name, g.locals)),
					Subject:  tr.SourceRange().Ptr(),
				})
				n.failed = true
				continue
			}
			n.deps = append(n.deps, dep)
		case "data":
			ref, ok := dataRefOf(tr)
			if !ok {
				continue
			}
			dep, ok := g.datas[ref]
			if !ok {
				known := map[string]bool{}
				for r := range g.datas {
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

// bodyTraversals returns every variable reference in body and its nested
// blocks, whatever their schema: the template does not know a data source's
// schema, but must know what a data block depends on.
func bodyTraversals(body hcl.Body) []hcl.Traversal {
	if sb, ok := body.(*hclsyntax.Body); ok {
		var out []hcl.Traversal
		names := make([]string, 0, len(sb.Attributes))
		for name := range sb.Attributes {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			out = append(out, sb.Attributes[name].Expr.Variables()...)
		}
		for _, b := range sb.Blocks {
			out = append(out, bodyTraversals(b.Body)...)
		}
		return out
	}
	// JSON bodies: every property, nested objects included, reads as an
	// attribute whose expression knows its references.
	attrs, _ := body.JustAttributes()
	var out []hcl.Traversal
	for _, a := range sortedAttributes(attrs) {
		out = append(out, a.Expr.Variables()...)
	}
	return out
}

// traverseName returns the attribute name at step i of tr.
func traverseName(tr hcl.Traversal, i int) (string, bool) {
	if len(tr) <= i {
		return "", false
	}
	a, ok := tr[i].(hcl.TraverseAttr)
	return a.Name, ok
}

// dataRefOf returns the data block that tr (data.TYPE.NAME...) refers to.
func dataRefOf(tr hcl.Traversal) (DataRef, bool) {
	typ, ok1 := traverseName(tr, 1)
	name, ok2 := traverseName(tr, 2)
	return DataRef{Type: typ, Name: name}, tr.RootName() == "data" && ok1 && ok2
}

// Step 3: order the nodes.

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
				diags = append(diags, cycleError(stack[i:]))
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

// cycleError reports cycle (each node uses the next, the last the first)
// and marks its nodes failed.
func cycleError(cycle []*valueNode) *hcl.Diagnostic {
	// A cycle of locals names them as before data blocks existed
	// (a -> b -> a); one with a data block names each node as it is
	// referenced.
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
	names = append(names, name(cycle[0]))
	summary := "Cycle in local values: "
	if withData {
		summary = "Cycle in local values and data sources: "
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary + strings.Join(names, " -> "),
		Detail: fmt.Sprintf("Each of these depends on the next, so none can be evaluated: %s.",
			strings.Join(where, "; ")),
		Subject: cycle[0].declRange().Ptr(),
	}
}

// Step 4: evaluate each node.

// evalLocal sets the value of local node n. The parts of data values that a
// sensitive local uses become secrets.
func (l *loader) evalLocal(n *valueNode, ectx *hcl.EvalContext, dataVals map[DataRef]cty.Value) hcl.Diagnostics {
	n.local.Value = cty.DynamicVal
	if n.failed {
		return nil
	}
	v, diags := n.expr.Value(ectx)
	if !diags.HasErrors() {
		n.local.Value = v
	}
	if n.local.Sensitive {
		l.t.dataSecrets = append(l.t.dataSecrets, dataReferenced(n.expr, dataVals)...)
	}
	return diags
}

// evalData decodes data node n and, when execute is set, runs its data
// source; it sets n.data.Value. A data source is not run with inputs that
// are not known (a data source it uses failed): its value is then unknown
// with the same reason.
func (l *loader) evalData(ctx context.Context, execute bool, n *valueNode, ectx *hcl.EvalContext) hcl.Diagnostics {
	d := n.data
	d.Value = cty.DynamicVal
	if n.failed {
		return nil
	}
	if execute {
		if marks := unknownInputs(n); marks != nil {
			d.Value = d.Value.WithMarks(marks)
			return nil
		}
	}
	ds, diags := l.decodeData(d, ectx)
	if ds == nil {
		return dataFailed(execute, d, cty.DynamicPseudoType, diags)
	}
	ty := ds.OutputType()
	d.Value = cty.UnknownVal(ty)
	if !execute {
		return diags
	}
	v, err := ds.Execute(ctx)
	if err != nil {
		return dataFailed(execute, d, ty, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Data source %s failed", d.DataRef),
			Detail:   fmt.Sprintf("data %q %q: %v", d.Type, d.Name, err),
			Subject:  d.DeclRange.Ptr(),
		}))
	}
	out, err := convert.Convert(v, ty)
	if err != nil {
		return dataFailed(execute, d, ty, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Data source %s returned an invalid value", d.DataRef),
			Detail:   fmt.Sprintf("The %s data source returned a value that is not of its declared type: %v.", d.Type, err),
			Subject:  d.DeclRange.Ptr(),
		}))
	}
	d.Value = out
	if r, ok := ds.(SecretsReporter); ok {
		for _, secret := range r.Secrets(out) {
			l.t.dataSecrets = append(l.t.dataSecrets, cty.StringVal(secret))
		}
	}
	return diags
}

// unknownInputs returns the reasons (hclconf.NotKnown marks) why values n
// uses are not known, or nil when they all are.
func unknownInputs(n *valueNode) cty.ValueMarks {
	var out cty.ValueMarks
	for _, dep := range n.deps {
		v := dep.value()
		if v.IsWhollyKnown() {
			continue
		}
		if out == nil {
			out = cty.ValueMarks{}
		}
		_, marks := v.UnmarkDeep()
		reason := false
		for m := range marks {
			if _, ok := m.(hclconf.NotKnown); ok {
				out[m] = struct{}{}
				reason = true
			}
		}
		if !reason {
			out[hclconf.NotKnown(fmt.Sprintf("it depends on %s, which is not known", dep.name()))] = struct{}{}
		}
	}
	return out
}

// decodeData decodes d's body with the data source of its type. The
// DataSource is nil when the type is unknown or the body has errors.
func (l *loader) decodeData(d *Data, ectx *hcl.EvalContext) (DataSource, hcl.Diagnostics) {
	var (
		types []string
		ds    DataSource
		ok    bool
		diags hcl.Diagnostics
	)
	if hcp := hcpDataSource(d); hcp != nil {
		return nil, hcp
	}
	if l.cfg.dataSources != nil {
		types = l.cfg.dataSources.Types()
		ds, ok, diags = l.cfg.dataSources.Decode(d.Type, d.Body, ectx)
	}
	if !ok {
		detail := fmt.Sprintf("kiln has no data source named %q", d.Type)
		if s := suggest(d.Type, types); s != "" {
			detail += fmt.Sprintf("; did you mean %q?", s)
		} else if len(types) > 0 {
			detail += fmt.Sprintf("; known: %v", types)
		}
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unknown data source type",
			Detail:   detail + ".",
			Subject:  d.TypeRange.Ptr(),
		}}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return ds, diags
}

// dataFailed sets d's value when it cannot be had: unknown, of type ty, and
// when its data source was to run, marked with the reason, which a
// component decoded to run with a value made from it reports.
func dataFailed(execute bool, d *Data, ty cty.Type, diags hcl.Diagnostics) hcl.Diagnostics {
	d.Value = cty.UnknownVal(ty)
	if execute && diags.HasErrors() {
		d.Value = d.Value.Mark(hclconf.NotKnown(fmt.Sprintf("it depends on data.%s, which failed", d.DataRef)))
	}
	return diags
}

// dataObject is the value of `data` in expressions: data.TYPE.NAME.
func dataObject(vals map[DataRef]cty.Value) cty.Value {
	byType := map[string]map[string]cty.Value{}
	for r, v := range vals {
		if byType[r.Type] == nil {
			byType[r.Type] = map[string]cty.Value{}
		}
		byType[r.Type][r.Name] = v
	}
	obj := make(map[string]cty.Value, len(byType))
	for typ, m := range byType {
		obj[typ] = cty.ObjectVal(m)
	}
	return cty.ObjectVal(obj)
}

// dataValue returns the value of `data` from t.Data.
func (t *Template) dataValue() cty.Value {
	vals := make(map[DataRef]cty.Value, len(t.Data))
	for r, d := range t.Data {
		vals[r] = d.Value
	}
	return dataObject(vals)
}

// dataReferenced returns the parts of data values that expr refers to
// (data.TYPE.NAME.value and the like): a sensitive local made from them is
// redacted, and so must they be, wherever they show on their own.
func dataReferenced(expr hcl.Expression, vals map[DataRef]cty.Value) []cty.Value {
	var out []cty.Value
	for _, tr := range expr.Variables() {
		ref, ok := dataRefOf(tr)
		if !ok {
			continue
		}
		v, ok := vals[ref]
		if !ok {
			continue
		}
		if len(tr) > 3 {
			var diags hcl.Diagnostics
			if v, diags = hcl.Traversal(tr[3:]).TraverseRel(v); diags.HasErrors() {
				continue
			}
		}
		out = append(out, v)
	}
	return out
}

package template

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Environment variable prefixes that set variables; a later one wins.
var envVarPrefixes = []string{"PKR_VAR_", "KILN_VAR_"}

// varDecl is what the loader keeps about a variable beyond Variable.
type varDecl struct {
	v *Variable
	// constraint is the declared type (cty.DynamicPseudoType when absent).
	constraint cty.Type
	defaults   *typeexpr.Defaults
	// literal is true when values given as strings (environment, -var) are
	// taken as they are rather than parsed as HCL expressions.
	literal     bool
	validations []*validation
}

type validation struct {
	condition    hcl.Expression
	errorMessage string
	declRange    hcl.Range
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"}, {Name: "nullable"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "condition", Required: true}, {Name: "error_message", Required: true},
}}

// declareVariables reads variable blocks and legacy variables blocks.
func (l *loader) declareVariables(blocks, legacy hcl.Blocks) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, b := range blocks {
		diags = append(diags, l.declareVariable(b)...)
	}
	// variables { name = default } declares a variable per attribute, its
	// type taken from the default (Packer's legacy form).
	for _, b := range legacy {
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for _, attr := range sortedAttributes(attrs) {
			if d := l.checkNewVariable(attr.Name, attr.NameRange); d != nil {
				diags = append(diags, d)
				continue
			}
			val, d := attr.Expr.Value(l.defaultsContext())
			diags = append(diags, d...)
			if d.HasErrors() {
				val = cty.DynamicVal
			}
			v := &Variable{Name: attr.Name, Type: val.Type(), Default: val, Value: val, Nullable: true, DeclRange: attr.Range}
			l.t.Variables[attr.Name] = v
			l.vars[attr.Name] = &varDecl{v: v, constraint: cty.DynamicPseudoType, literal: isLiteralType(val.Type())}
		}
	}
	return diags
}

// checkNewVariable reports an invalid or duplicate variable name.
func (l *loader) checkNewVariable(name string, rng hcl.Range) *hcl.Diagnostic {
	if !hclsyntax.ValidIdentifier(name) {
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid variable name",
			Detail:   fmt.Sprintf("%q is not a valid name: use letters, digits, underscores and dashes, starting with a letter.", name),
			Subject:  rng.Ptr(),
		}
	}
	if prev, ok := l.t.Variables[name]; ok {
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate variable",
			Detail:   fmt.Sprintf("The variable %q was already declared at %s.", name, prev.DeclRange),
			Subject:  rng.Ptr(),
		}
	}
	return nil
}

func (l *loader) declareVariable(b *hcl.Block) hcl.Diagnostics {
	name := b.Labels[0]
	if d := l.checkNewVariable(name, b.LabelRanges[0]); d != nil {
		return hcl.Diagnostics{d}
	}
	content, diags := b.Body.Content(variableSchema)
	v := &Variable{Name: name, Type: cty.DynamicPseudoType, Nullable: true, DeclRange: b.DefRange}
	decl := &varDecl{v: v, constraint: cty.DynamicPseudoType}
	l.t.Variables[name] = v
	l.vars[name] = decl

	if attr, ok := content.Attributes["type"]; ok {
		ty, defaults, d := typeexpr.TypeConstraintWithDefaults(attr.Expr)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.Type, decl.constraint, decl.defaults = ty, ty, defaults
		}
	}
	if attr, ok := content.Attributes["description"]; ok {
		diags = append(diags, gohcl.DecodeExpression(attr.Expr, nil, &v.Description)...)
	}
	if attr, ok := content.Attributes["sensitive"]; ok {
		diags = append(diags, gohcl.DecodeExpression(attr.Expr, nil, &v.Sensitive)...)
	}
	if attr, ok := content.Attributes["nullable"]; ok {
		diags = append(diags, gohcl.DecodeExpression(attr.Expr, nil, &v.Nullable)...)
	}
	v.Default = cty.NullVal(decl.constraint)
	v.Required = true
	if attr, ok := content.Attributes["default"]; ok {
		v.Required = false
		val, d := attr.Expr.Value(l.defaultsContext())
		diags = append(diags, d...)
		if !d.HasErrors() {
			val, d = decl.convert(val, attr.Expr.Range().Ptr(), "default value")
			diags = append(diags, d...)
			v.Default = val
			if decl.constraint == cty.DynamicPseudoType && !val.IsNull() {
				// Without a type, the default's type describes the variable,
				// as in Packer.
				v.Type = val.Type()
			}
		}
	}
	v.Value = v.Default
	if diags.HasErrors() {
		// A broken declaration leaves the value unknown, so that its uses
		// report no more errors.
		v.Value = cty.DynamicVal
	}
	decl.literal = isLiteralType(v.Type)

	for _, vb := range content.Blocks {
		vc, d := vb.Body.Content(validationSchema)
		diags = append(diags, d...)
		cond, ok := vc.Attributes["condition"]
		msgAttr, ok2 := vc.Attributes["error_message"]
		if !ok || !ok2 {
			continue
		}
		var msg string
		if d := gohcl.DecodeExpression(msgAttr.Expr, nil, &msg); d.HasErrors() {
			diags = append(diags, d...)
			continue
		}
		if !referencesOnly(cond.Expr, name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable validation condition",
				Detail:   fmt.Sprintf("The condition of a validation rule may only refer to the variable it checks, var.%s.", name),
				Subject:  cond.Expr.Range().Ptr(),
			})
			continue
		}
		decl.validations = append(decl.validations, &validation{condition: cond.Expr, errorMessage: msg, declRange: vb.DefRange})
	}
	return diags
}

// isLiteralType reports whether values of type ty given as strings on the
// command line or in the environment are taken literally: strings, numbers,
// bools and untyped variables are; lists, maps and objects are parsed as HCL
// expressions, as Packer and Terraform do.
func isLiteralType(ty cty.Type) bool {
	return ty.IsPrimitiveType() || ty == cty.DynamicPseudoType
}

// referencesOnly reports whether expr refers to no variable but var.name.
func referencesOnly(expr hcl.Expression, name string) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != "var" || len(tr) < 2 {
			return false
		}
		if a, ok := tr[1].(hcl.TraverseAttr); !ok || a.Name != name {
			return false
		}
	}
	return true
}

// convert converts val to the variable's type, applying type defaults; what
// names the value in errors ("default value", "value from -var").
func (d *varDecl) convert(val cty.Value, subject *hcl.Range, what string) (cty.Value, hcl.Diagnostics) {
	if d.defaults != nil {
		val = d.defaults.Apply(val)
	}
	out, err := convert.Convert(val, d.constraint)
	if err != nil {
		return cty.DynamicVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid %s for variable %q", what, d.v.Name),
			Detail:   fmt.Sprintf("The variable needs a value of type %s: %s.", typeexpr.TypeString(d.constraint), err),
			Subject:  subject,
		}}
	}
	return out, nil
}

// defaultsContext is the context for variable defaults: functions, with env()
// reading the environment.
func (l *loader) defaultsContext() *hcl.EvalContext {
	return &hcl.EvalContext{Functions: l.t.functions(true)}
}

// assignVariables applies, in increasing precedence, environment variables,
// auto var files, -var-file files and -var assignments.
func (l *loader) assignVariables(autoVarFiles []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, prefix := range envVarPrefixes {
		for _, kv := range l.cfg.env {
			k, raw, ok := strings.Cut(kv, "=")
			name, isVar := strings.CutPrefix(k, prefix)
			if !ok || !isVar {
				continue
			}
			decl, declared := l.vars[name]
			if !declared {
				continue // Packer ignores environment variables it has no use for.
			}
			diags = append(diags, l.assignString(decl, raw, "environment variable "+k)...)
		}
	}
	for _, f := range autoVarFiles {
		diags = append(diags, l.assignVarFile(f)...)
	}
	for _, f := range l.cfg.varFiles {
		diags = append(diags, l.assignVarFile(f)...)
	}
	for _, a := range l.cfg.vars {
		name, raw, ok := strings.Cut(a, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid -var option",
				Detail:   fmt.Sprintf("The option %q must be written as name=value.", a),
			})
			continue
		}
		decl, declared := l.vars[name]
		if !declared {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail: fmt.Sprintf("-var sets %q, but the template declares no variable of that name%s. %s",
					name, suggestIn(name, l.vars), declareHint(name, cty.String)),
			})
			continue
		}
		diags = append(diags, l.assignString(decl, raw, "-var "+name)...)
	}
	return diags
}

// assignString sets a variable from a string given outside any file.
func (l *loader) assignString(decl *varDecl, raw, from string) hcl.Diagnostics {
	var val cty.Value
	if decl.literal {
		val = cty.StringVal(raw)
	} else {
		expr, diags := parseExpression([]byte(raw), "<value for var."+decl.v.Name+">")
		if diags.HasErrors() {
			decl.v.Value = cty.DynamicVal
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Invalid value for variable %q", decl.v.Name),
				Detail:   fmt.Sprintf("The value from %s is not a valid HCL expression for type %s: %s", from, typeexpr.TypeString(decl.constraint), diags[0].Detail),
			}}
		}
		var d hcl.Diagnostics
		val, d = expr.Value(&hcl.EvalContext{Functions: l.t.funcs})
		if d.HasErrors() {
			decl.v.Value = cty.DynamicVal
			return d
		}
	}
	val, diags := decl.convert(val, nil, "value from "+from)
	decl.v.Value = val
	return diags
}

// assignVarFile sets variables from a var file's attributes; a value for an
// undeclared variable is a warning.
func (l *loader) assignVarFile(path string) hcl.Diagnostics {
	f, diags := l.parseFile(path)
	if f == nil || diags.HasErrors() {
		return diags
	}
	attrs, d := f.Body.JustAttributes()
	diags = append(diags, d...)
	ctx := &hcl.EvalContext{Functions: l.t.funcs}
	for _, attr := range sortedAttributes(attrs) {
		decl, ok := l.vars[attr.Name]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Value for undeclared variable",
				Detail: fmt.Sprintf("The file sets %q, but the template declares no variable of that name%s. The value is ignored. %s",
					attr.Name, suggestIn(attr.Name, l.vars), declareHint(attr.Name, staticType(attr.Expr))),
				Subject: attr.NameRange.Ptr(),
			})
			continue
		}
		val, d := attr.Expr.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			decl.v.Value = cty.DynamicVal
			continue
		}
		val, d = decl.convert(val, attr.Expr.Range().Ptr(), "value")
		diags = append(diags, d...)
		decl.v.Value = val
	}
	return diags
}

// declareHint tells how to declare the variable name, of type ty when it
// is a primitive type.
func declareHint(name string, ty cty.Type) string {
	body := "{}"
	if ty.IsPrimitiveType() {
		body = fmt.Sprintf("{ type = %s }", typeexpr.TypeString(ty))
	}
	return fmt.Sprintf("To set it, declare it in the template: variable %q %s", name, body)
}

// staticType returns the type of expr's value when it needs no context,
// otherwise cty.DynamicPseudoType.
func staticType(expr hcl.Expression) cty.Type {
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.DynamicPseudoType
	}
	return val.Type()
}

// finishVariables checks that every required variable has a value, that
// non-nullable ones are not null, and runs validation rules.
func (l *loader) finishVariables() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range sortedKeys(l.vars) {
		decl := l.vars[name]
		v := decl.v
		if !v.Value.IsKnown() {
			continue // an earlier error
		}
		if v.Value.IsNull() {
			switch {
			case v.Required && v.Default.IsNull():
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Unset variable %q", name),
					Detail: fmt.Sprintf("The variable %q has no default, so it needs a value: give one with -var %s=..., in a -var-file, "+
						"in a *.auto.pkrvars.hcl file or in the environment variable PKR_VAR_%s.", name, name, name),
					Subject: v.DeclRange.Ptr(),
				})
				continue
			case !v.Nullable:
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Null value for non-nullable variable %q", name),
					Detail:   "The variable declares nullable = false, so its value may not be null.",
					Subject:  v.DeclRange.Ptr(),
				})
				continue
			}
		}
		diags = append(diags, l.validate(decl)...)
	}
	return diags
}

func (l *loader) validate(decl *varDecl) hcl.Diagnostics {
	var diags hcl.Diagnostics
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{decl.v.Name: decl.v.Value})},
		Functions: l.t.funcs,
	}
	for _, rule := range decl.validations {
		res, d := rule.condition.Value(ctx)
		if d.HasErrors() {
			diags = append(diags, d...)
			continue
		}
		if !res.IsKnown() || res.IsNull() {
			continue
		}
		res, err := convert.Convert(res, cty.Bool)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable validation result",
				Detail:   fmt.Sprintf("The condition must be a bool: %s.", err),
				Subject:  rule.condition.Range().Ptr(),
			})
			continue
		}
		if res.False() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Invalid value for variable %q", decl.v.Name),
				Detail:   fmt.Sprintf("%s\n\nThis was checked by the validation rule at %s.", rule.errorMessage, rule.declRange),
				Subject:  rule.condition.Range().Ptr(),
			})
		}
	}
	return diags
}

// sortedAttributes returns attrs in source order.
func sortedAttributes(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := out[i].Range, out[j].Range
		if ri.Filename != rj.Filename {
			return ri.Filename < rj.Filename
		}
		return ri.Start.Byte < rj.Start.Byte
	})
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package hclconf

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/zclconf/go-cty/cty"
)

// field is one attribute or block of a struct, found by walking squashed structs.
type field struct {
	name     string
	index    []int // reflect index path from the root struct
	block    bool
	label    bool
	optional bool
}

var durationType = reflect.TypeFor[time.Duration]()

// Decode decodes body into the struct that v points to, evaluating
// expressions in ectx (which may be nil). Struct fields are tagged like
// gohcl's:
//
//	Name    string        `hcl:"name"`            // required attribute
//	Size    int           `hcl:"size,optional"`
//	Wait    time.Duration `hcl:"wait,optional"`   // "5m", "30s"
//	Filter  *Filter       `hcl:"filter,block"`    // optional single block
//	Tags    []Tag         `hcl:"tag,block"`       // repeated block
//	Type    string        `hcl:"type,label"`      // block label (in block structs)
//	SSH     ssh.Config    `hcl:",squash"`         // fields decoded from the same body
//
// Values that are not yet known leave the field unchanged when validating,
// and are errors at their attribute when ectx comes from ForRun. Decoding
// has no side effects beyond v. The diagnostics come in source order, the
// same on every run.
func Decode(body hcl.Body, ectx *hcl.EvalContext, v any) hcl.Diagnostics {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("hclconf: Decode needs a pointer to a struct, got %T", v))
	}
	return SortBySource(decodeBody(dynblock.Expand(body, ectx), ectx, rv.Elem(), nil))
}

// SortBySource orders diagnostics by file, line and column, in place, and
// returns them: HCL reports the unknown arguments of a body in the order of a
// map, which differs from run to run. Diagnostics without a range keep their
// order, after the others.
func SortBySource(diags hcl.Diagnostics) hcl.Diagnostics {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a != nil && b == nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		case a.Start.Line != b.Start.Line:
			return a.Start.Line < b.Start.Line
		}
		return a.Start.Column < b.Start.Column
	})
	return diags
}

func decodeBody(body hcl.Body, ectx *hcl.EvalContext, rv reflect.Value, labels []string) hcl.Diagnostics {
	fields := fieldsOf(rv.Type())
	schema := &hcl.BodySchema{}
	var labelFields []field
	for _, f := range fields {
		switch {
		case f.label:
			labelFields = append(labelFields, f)
		case f.block:
			schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: f.name, LabelNames: blockLabels(rv.Type().FieldByIndex(f.index).Type)})
		default:
			schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: f.name, Required: !f.optional})
		}
	}
	for i, f := range labelFields {
		if i < len(labels) {
			rv.FieldByIndex(f.index).SetString(labels[i])
		}
	}
	content, diags := body.Content(schema)
	for _, f := range fields {
		if f.label {
			continue
		}
		fv := rv.FieldByIndex(f.index)
		if !f.block {
			if attr, ok := content.Attributes[f.name]; ok {
				diags = append(diags, decodeAttr(attr, ectx, fv)...)
			}
			continue
		}
		var blocks []*hcl.Block
		for _, b := range content.Blocks {
			if b.Type == f.name {
				blocks = append(blocks, b)
			}
		}
		diags = append(diags, decodeBlocks(f.name, blocks, ectx, fv)...)
	}
	return diags
}

func decodeBlocks(name string, blocks []*hcl.Block, ectx *hcl.EvalContext, fv reflect.Value) hcl.Diagnostics {
	var diags hcl.Diagnostics
	switch fv.Kind() {
	case reflect.Slice:
		out := reflect.MakeSlice(fv.Type(), len(blocks), len(blocks))
		for i, b := range blocks {
			diags = append(diags, decodeBlock(b, ectx, out.Index(i))...)
		}
		if len(blocks) > 0 {
			fv.Set(out)
		}
		return diags
	case reflect.Pointer, reflect.Struct:
		if len(blocks) == 0 {
			return nil
		}
		if len(blocks) > 1 {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s block", name),
				Detail:   fmt.Sprintf("Only one %q block is allowed; another was defined at %s.", name, blocks[0].DefRange),
				Subject:  blocks[1].DefRange.Ptr(),
			}}
		}
		target := fv
		if fv.Kind() == reflect.Pointer {
			target = reflect.New(fv.Type().Elem()).Elem()
		}
		diags = decodeBlock(blocks[0], ectx, target)
		if fv.Kind() == reflect.Pointer {
			fv.Set(target.Addr())
		}
		return diags
	}
	panic(fmt.Sprintf("hclconf: block field %s has unsupported type %s", name, fv.Type()))
}

func decodeBlock(b *hcl.Block, ectx *hcl.EvalContext, target reflect.Value) hcl.Diagnostics {
	if target.Kind() == reflect.Pointer {
		target.Set(reflect.New(target.Type().Elem()))
		target = target.Elem()
	}
	return decodeBody(b.Body, ectx, target, b.Labels)
}

func decodeAttr(attr *hcl.Attribute, ectx *hcl.EvalContext, fv reflect.Value) hcl.Diagnostics {
	val, diags := attr.Expr.Value(ectx)
	if diags.HasErrors() {
		return diags
	}
	if !val.IsWhollyKnown() {
		if Running(ectx) {
			diags = append(diags, notKnown(attr, ectx, val))
		}
		return diags
	}
	if val.IsNull() {
		return diags
	}
	if fv.Type() == durationType || (fv.Kind() == reflect.Pointer && fv.Type().Elem() == durationType) {
		return append(diags, decodeDuration(attr, val, fv)...)
	}
	if fv.Type() == reflect.TypeFor[cty.Value]() {
		fv.Set(reflect.ValueOf(val))
		return diags
	}
	// gohcl converts a known value into the Go type, with HCL's own errors.
	ptr := reflect.New(fv.Type())
	d := gohcl.DecodeExpression(attr.Expr, ectx, ptr.Interface())
	diags = append(diags, d...)
	if !d.HasErrors() {
		fv.Set(ptr.Elem())
	}
	return diags
}

func decodeDuration(attr *hcl.Attribute, val cty.Value, fv reflect.Value) hcl.Diagnostics {
	var d time.Duration
	switch {
	case val.Type() == cty.Number:
		// A bare number is seconds, as Packer accepts for some waits.
		f, _ := val.AsBigFloat().Float64()
		d = time.Duration(f * float64(time.Second))
	case val.Type() == cty.String:
		var err error
		d, err = time.ParseDuration(val.AsString())
		if err != nil {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid duration",
				Detail:   fmt.Sprintf("%q is not a duration: write a number with a unit, such as \"30s\", \"5m\" or \"1h30m\".", val.AsString()),
				Subject:  attr.Expr.Range().Ptr(),
			}}
		}
	default:
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   fmt.Sprintf("A duration must be a string such as \"5m\", not %s.", val.Type().FriendlyName()),
			Subject:  attr.Expr.Range().Ptr(),
		}}
	}
	if fv.Kind() == reflect.Pointer {
		fv.Set(reflect.ValueOf(&d))
	} else {
		fv.SetInt(int64(d))
	}
	return nil
}

// fieldCache maps a struct type to its fields: walking the tags of a large
// config on every decode is a noticeable part of validating big templates.
var fieldCache sync.Map // reflect.Type → []field

// fieldsOf lists the tagged fields of t, descending into squashed structs.
// The result is shared: callers must not modify it.
func fieldsOf(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	f := walkFields(t)
	fieldCache.Store(t, f)
	return f
}

func walkFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("hcl")
		if !ok {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "squash" {
			for _, sub := range fieldsOf(sf.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		out = append(out, field{
			name:     name,
			index:    []int{i},
			block:    opts == "block",
			label:    opts == "label",
			optional: opts == "optional",
		})
	}
	return out
}

// blockLabels returns the label names a block struct type declares.
func blockLabels(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	var names []string
	for _, f := range fieldsOf(t) {
		if f.label {
			names = append(names, f.name)
		}
	}
	return names
}

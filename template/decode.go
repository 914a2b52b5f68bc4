package template

import (
	"fmt"
	"math/big"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/kilnhq/kiln/internal/registry"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// decodeValue evaluates attr, converts it to ty and passes it to set. Unknown
// and null values are left unset: they are known only when a build runs.
func decodeValue(attr *hcl.Attribute, ctx *hcl.EvalContext, ty cty.Type, set func(cty.Value)) hcl.Diagnostics {
	val, diags := attr.Expr.Value(ctx)
	if diags.HasErrors() || !val.IsWhollyKnown() || val.IsNull() {
		return diags
	}
	out, err := convert.Convert(val, ty)
	if err != nil {
		return append(diags, &hcl.Diagnostic{
			Severity:    hcl.DiagError,
			Summary:     fmt.Sprintf("Invalid value for %s", attr.Name),
			Detail:      fmt.Sprintf("%s needs a %s: %s.", attr.Name, ty.FriendlyName(), err),
			Subject:     attr.Expr.Range().Ptr(),
			Expression:  attr.Expr,
			EvalContext: ctx,
		})
	}
	set(out)
	return diags
}

func decodeString(attr *hcl.Attribute, ctx *hcl.EvalContext, dst *string) hcl.Diagnostics {
	return decodeValue(attr, ctx, cty.String, func(v cty.Value) { *dst = v.AsString() })
}

// decodeInt reads a whole number, given as a number or a string as Packer
// accepts.
func decodeInt(attr *hcl.Attribute, ctx *hcl.EvalContext, dst *int) hcl.Diagnostics {
	var n *big.Float
	diags := decodeValue(attr, ctx, cty.Number, func(v cty.Value) { n = v.AsBigFloat() })
	if n == nil {
		return diags
	}
	i, acc := n.Int64()
	if acc != big.Exact || i < 0 || i > 1<<31 {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid value for %s", attr.Name),
			Detail:   fmt.Sprintf("%s needs a whole number from 0, not %s.", attr.Name, n.Text('g', 10)),
			Subject:  attr.Expr.Range().Ptr(),
		})
	}
	*dst = int(i)
	return diags
}

// decodeDuration reads a duration written as "5m" or "1h30s".
func decodeDuration(attr *hcl.Attribute, ctx *hcl.EvalContext, dst *time.Duration) hcl.Diagnostics {
	var s string
	diags := decodeString(attr, ctx, &s)
	if s == "" {
		return diags
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   fmt.Sprintf("%q is not a duration: write a number with a unit, such as \"30s\", \"5m\" or \"1h30m\".", s),
			Subject:  attr.Expr.Range().Ptr(),
		})
	}
	*dst = d
	return diags
}

// suggest returns the candidate closest to name, or "".
func suggest(name string, candidates []string) string {
	return registry.Suggest(name, candidates)
}

// suggestIn returns "; did you mean "x"?" for the key of m closest to name,
// or "".
func suggestIn[V any](name string, m map[string]V) string {
	if s := suggest(name, sortedKeys(m)); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

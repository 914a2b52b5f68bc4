package kiln

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/kilnhq/kiln/datasource"
	"github.com/kilnhq/kiln/datasource/amazonami"
	"github.com/kilnhq/kiln/datasource/amazonparameterstore"
	"github.com/kilnhq/kiln/datasource/http"
	"github.com/kilnhq/kiln/datasource/null"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/template"
)

// DefaultDataSources returns a new registry holding every data source kiln
// embeds, under the type labels Packer uses.
func DefaultDataSources() *datasource.Registry {
	reg := datasource.NewRegistry()
	reg.Register(amazonami.Type, amazonami.New)
	reg.Register(amazonparameterstore.Type, amazonparameterstore.New)
	reg.Register(http.Type, http.New)
	reg.Register(null.Type, null.New)
	return reg
}

// DataSources adapts a data source registry for template.WithDataSources;
// Load uses DefaultDataSources this way unless given another.
func DataSources(reg *datasource.Registry) template.DataSources { return dataSources{reg} }

type dataSources struct{ reg *datasource.Registry }

func (d dataSources) Types() []string { return d.reg.Names() }

func (d dataSources) Decode(typ string, body hcl.Body, ectx *hcl.EvalContext) (template.DataSource, bool, hcl.Diagnostics) {
	f, ok := d.reg.Lookup(typ)
	if !ok {
		return nil, false, nil
	}
	ds, diags := f(body, ectx)
	if ds == nil {
		return nil, true, diags // not a non-nil interface holding nil
	}
	return ds, true, diags
}

// evaluateDataSources runs tpl's data sources and sends each result to
// events, redacted where it reaches a sensitive value. A success is kept by
// tpl, so a later Build does not run them again; a failure is not, so a
// later Build runs them again and fails the same way while the failure
// lasts (see template.EvaluateDataSources).
func evaluateDataSources(ctx context.Context, tpl *template.Template, events event.Sink) hcl.Diagnostics {
	if !tpl.HasPendingData() {
		return nil
	}
	diags := tpl.EvaluateDataSources(ctx)
	if events == nil || diags.HasErrors() {
		return diags
	}
	sink := event.Redact(events, tpl.SensitiveValues())
	refs := make([]template.DataRef, 0, len(tpl.Data))
	for ref := range tpl.Data {
		refs = append(refs, ref)
	}
	slices.SortFunc(refs, func(a, b template.DataRef) int { return cmp.Compare(a.String(), b.String()) })
	for _, ref := range refs {
		v := tpl.Data[ref].Value
		js, err := ctyjson.Marshal(v, v.Type())
		text := fmt.Sprintf("data.%s = %s", ref, js)
		if err != nil {
			text = fmt.Sprintf("data.%s: %v", ref, err)
		}
		sink.Emit(&event.Message{Meta: event.Meta{Time: time.Now()}, Level: event.Info, Text: text})
	}
	return diags
}

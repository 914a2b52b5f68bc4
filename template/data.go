package template

import (
	"context"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// DataRef names a data block: TYPE.NAME.
type DataRef struct {
	Type, Name string
}

// String returns "TYPE.NAME".
func (r DataRef) String() string { return r.Type + "." + r.Name }

// Data is a data "TYPE" "NAME" block. Its body is decoded by the data source
// of its type, found through WithDataSources.
type Data struct {
	DataRef
	Body hcl.Body
	// Value is data.TYPE.NAME in expressions: the data source's output once
	// EvaluateDataSources ran, an unknown value of its output type before
	// (or cty.DynamicVal when the block is invalid). After an evaluation
	// that failed, it is unknown and marked with the reason, which a
	// component decoded to run with a value made from it reports.
	Value     cty.Value
	DeclRange hcl.Range
	// TypeRange is the range of the type label, where an unknown type is
	// reported.
	TypeRange hcl.Range
}

// DataSource is a configured data block, as a DataSources decodes it.
type DataSource interface {
	// OutputType is the type of the value Execute returns.
	OutputType() cty.Type
	// Execute does the lookup.
	Execute(ctx context.Context) (cty.Value, error)
}

// SecretsReporter is implemented by data sources whose output can hold
// secrets (a decrypted SecureString parameter): the strings Secrets returns
// for an output are redacted everywhere, as values of sensitive locals are.
type SecretsReporter interface {
	Secrets(out cty.Value) []string
}

// DataSources is what Load needs to know about data sources: which types
// exist and how each decodes its body. The kiln package provides one backed
// by its data source registry. Decoding must have no side effects.
type DataSources interface {
	// Types returns the known type labels, for suggestions.
	Types() []string
	// Decode decodes the body of a data block of type typ with ectx. ok is
	// false when typ is unknown. The DataSource is nil only with errors.
	Decode(typ string, body hcl.Body, ectx *hcl.EvalContext) (ds DataSource, ok bool, diags hcl.Diagnostics)
}

// WithDataSources gives Load the data sources that data blocks may use.
// Without it, every data block is an error.
func WithDataSources(ds DataSources) LoadOption {
	return func(c *loadConfig) { c.dataSources = ds }
}

package datasource

import (
	"context"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/internal/registry"
)

// Datasource is one configured data block.
//
// A Datasource whose output can hold secrets (a decrypted parameter) also
// has the method
//
//	Secrets(out cty.Value) []string
//
// (template.SecretsReporter): the strings it returns for the output Execute
// returned are redacted everywhere, as sensitive values are.
type Datasource interface {
	// OutputType is the type of the value Execute returns. It is known
	// without I/O: during validation the block's value is an unknown value
	// of this type, so references to attributes it lacks are errors.
	OutputType() cty.Type
	// Execute does the lookup and returns a value of OutputType. Errors say
	// what was looked up ("GET http://…: 404 Not Found").
	Execute(ctx context.Context) (cty.Value, error)
}

// Factory decodes a data block's body into a Datasource. It must not have
// side effects: it runs during validation too, with values that are not yet
// known left unknown in ectx. It returns a nil Datasource only with errors.
type Factory func(body hcl.Body, ectx *hcl.EvalContext) (Datasource, hcl.Diagnostics)

// Registry maps data block type labels to Factories.
type Registry = registry.Registry[Factory]

// NewRegistry returns an empty data source registry.
func NewRegistry() *Registry { return registry.New[Factory]("data source") }

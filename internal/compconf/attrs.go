package compconf

import "github.com/hashicorp/hcl/v2"

// Attrs records which attributes a body sets and where.
type Attrs struct {
	body  hcl.Body
	attrs hcl.Attributes
}

// BodyAttrs returns the attributes among names that body sets. It reads the
// body only; errors are left to the full decode.
func BodyAttrs(body hcl.Body, names ...string) Attrs {
	schema := &hcl.BodySchema{}
	for _, n := range names {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: n})
	}
	a := Attrs{body: body}
	if content, _, _ := body.PartialContent(schema); content != nil {
		a.attrs = content.Attributes
	}
	return a
}

// Has reports whether the attribute is set.
func (a Attrs) Has(name string) bool { return a.attrs[name] != nil }

// Range returns the attribute's range, or the body's MissingItemRange when
// it is not set.
func (a Attrs) Range(name string) *hcl.Range {
	if at := a.attrs[name]; at != nil {
		return at.Range.Ptr()
	}
	return a.body.MissingItemRange().Ptr()
}

// Error returns an error diagnostic on the attribute name (or on the body,
// when it is not set).
func (a Attrs) Error(name, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: a.Range(name)}
}

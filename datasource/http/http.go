package http

import (
	"context"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/datasource"
	"github.com/kilnhq/kiln/internal/compconf"
	"github.com/kilnhq/kiln/internal/hclconf"
)

// Type is the data block type label.
const Type = "http"

// DefaultTimeout bounds a request when timeout is not set.
const DefaultTimeout = time.Minute

// maxBody is the largest response body kept (the rest is an error): data
// sources feed templates, not downloads.
const maxBody = 16 << 20

// Config holds the options of a data "http" block.
type Config struct {
	URL            string            `hcl:"url"`
	Method         string            `hcl:"method,optional"`
	RequestHeaders map[string]string `hcl:"request_headers,optional"`
	RequestBody    string            `hcl:"request_body,optional"`
	// Timeout bounds the whole request, body included (kiln's addition;
	// DefaultTimeout when unset).
	Timeout time.Duration `hcl:"timeout,optional"`
}

// Datasource sends the configured request.
type Datasource struct {
	cfg Config
	// client is nethttp.DefaultClient's transport with the timeout.
	client *nethttp.Client
}

var outputType = cty.Object(map[string]cty.Type{
	"url":              cty.String,
	"body":             cty.String,
	"status_code":      cty.Number,
	"request_headers":  cty.Map(cty.String),
	"response_headers": cty.Map(cty.String),
})

var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// New decodes a data "http" body.
func New(body hcl.Body, ectx *hcl.EvalContext) (datasource.Datasource, hcl.Diagnostics) {
	d := &Datasource{}
	diags := hclconf.Decode(body, ectx, &d.cfg)
	attrs := compconf.BodyAttrs(body, "url", "method", "request_body", "timeout")
	bad := func(attr, detail string) {
		diags = append(diags, attrs.Error(attr, "Invalid http data source", detail))
	}
	c := &d.cfg
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("url", fmt.Sprintf("url must be an http:// or https:// URL, not %q.", c.URL))
		}
	}
	c.Method = strings.ToUpper(c.Method)
	if c.Method == "" {
		c.Method = "GET"
	}
	if !slices.Contains(methods, c.Method) {
		bad("method", fmt.Sprintf("method must be one of %s, not %q.", strings.Join(methods, ", "), c.Method))
	}
	if c.RequestBody != "" && (c.Method == "GET" || c.Method == "HEAD") {
		bad("request_body", fmt.Sprintf("A %s request has no body: set method (\"POST\", \"PUT\", ...) with request_body.", c.Method))
	}
	if c.Timeout < 0 {
		bad("timeout", "timeout must not be negative.")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if diags.HasErrors() {
		return nil, diags
	}
	d.client = &nethttp.Client{Timeout: c.Timeout}
	return d, diags
}

// OutputType is an object with url, body, status_code, request_headers and
// response_headers (several values of one header joined with ", ").
func (d *Datasource) OutputType() cty.Type { return outputType }

// Execute sends the request and reads the response.
func (d *Datasource) Execute(ctx context.Context) (cty.Value, error) {
	c := d.cfg
	var body io.Reader
	if c.RequestBody != "" {
		body = strings.NewReader(c.RequestBody)
	}
	req, err := nethttp.NewRequestWithContext(ctx, c.Method, c.URL, body)
	if err != nil {
		return cty.NilVal, fmt.Errorf("%s %s: %w", c.Method, c.URL, err)
	}
	for k, v := range c.RequestHeaders {
		req.Header.Set(k, v)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		// The client's error already names the method and URL.
		return cty.NilVal, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return cty.NilVal, fmt.Errorf("%s %s: read body: %w", c.Method, c.URL, err)
	}
	if len(b) > maxBody {
		return cty.NilVal, fmt.Errorf("%s %s: the body is larger than %d MiB", c.Method, c.URL, maxBody>>20)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return cty.NilVal, fmt.Errorf("%s %s: %s", c.Method, c.URL, resp.Status)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"url":              cty.StringVal(c.URL),
		"body":             cty.StringVal(string(b)),
		"status_code":      cty.NumberIntVal(int64(resp.StatusCode)),
		"request_headers":  stringMap(c.RequestHeaders),
		"response_headers": headerMap(resp.Header),
	}), nil
}

func stringMap(m map[string]string) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	out := make(map[string]cty.Value, len(m))
	for k, v := range m {
		out[k] = cty.StringVal(v)
	}
	return cty.MapVal(out)
}

func headerMap(h nethttp.Header) cty.Value {
	m := make(map[string]string, len(h))
	for k, v := range h {
		m[k] = strings.Join(v, ", ")
	}
	return stringMap(m)
}

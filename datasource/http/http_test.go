package http

import (
	"context"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

func parse(t *testing.T, src string) hcl.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return f.Body
}

// server answers on 127.0.0.1: /version with a version, /echo with the
// request's method, header and body, /missing with 404, /slow after 30 s.
func server(t *testing.T) *httptest.Server {
	mux := nethttp.NewServeMux()
	mux.HandleFunc("/version", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("X-Release", "stable")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		io.WriteString(w, "1.4.2\n")
	})
	mux.HandleFunc("/echo", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(nethttp.StatusCreated)
		io.WriteString(w, r.Method+" "+r.Header.Get("Authorization")+" "+string(b))
	})
	mux.HandleFunc("/missing", func(w nethttp.ResponseWriter, r *nethttp.Request) { nethttp.NotFound(w, r) })
	mux.HandleFunc("/slow", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		// Answers only a client that waits 30 s; the timeout test's
		// client must give up long before.
		select {
		case <-time.After(30 * time.Second):
		case <-r.Context().Done():
		}
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("test server is not on loopback: %s", s.URL)
	}
	return s
}

func run(t *testing.T, src string) (cty.Value, error) {
	t.Helper()
	d, diags := New(parse(t, src), nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	v, err := d.Execute(context.Background())
	if err == nil && !v.Type().Equals(d.OutputType()) {
		t.Errorf("output %s is not of the output type", v.Type().FriendlyName())
	}
	return v, err
}

func TestGet(t *testing.T) {
	s := server(t)
	v, err := run(t, `url = "`+s.URL+`/version"`)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.GetAttr("body"); got != cty.StringVal("1.4.2\n") {
		t.Errorf("body = %#v", got)
	}
	if got := v.GetAttr("status_code"); !got.RawEquals(cty.NumberIntVal(200)) {
		t.Errorf("status_code = %#v", got)
	}
	h := v.GetAttr("response_headers")
	if h.Index(cty.StringVal("X-Release")) != cty.StringVal("stable") || h.Index(cty.StringVal("X-Multi")) != cty.StringVal("a, b") {
		t.Errorf("response_headers = %#v", h)
	}
}

func TestPostWithHeadersAndBody(t *testing.T) {
	s := server(t)
	v, err := run(t, `
url             = "`+s.URL+`/echo"
method          = "post"
request_headers = { Authorization = "Bearer t0k" }
request_body    = "{\"a\":1}"
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.GetAttr("body").AsString(); got != `POST Bearer t0k {"a":1}` {
		t.Errorf("the server saw %q", got)
	}
	if got := v.GetAttr("status_code"); !got.RawEquals(cty.NumberIntVal(201)) {
		t.Errorf("status_code = %#v", got)
	}
}

func TestErrorsNameTheURL(t *testing.T) {
	s := server(t)
	_, err := run(t, `url = "`+s.URL+`/missing"`)
	if err == nil || !strings.Contains(err.Error(), s.URL+"/missing") || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
	_, err = run(t, `
url     = "`+s.URL+`/slow"
timeout = "200ms"
`)
	var ne net.Error
	if err == nil || !strings.Contains(err.Error(), s.URL+"/slow") || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("timeout: %v, want a timeout naming the URL", err)
	}
	s.Close()
	_, err = run(t, `url = "`+s.URL+`/version"`)
	if err == nil || !strings.Contains(err.Error(), s.URL+"/version") {
		t.Errorf("server gone: %v", err)
	}
}

func TestCancel(t *testing.T) {
	s := server(t)
	d, diags := New(parse(t, `url = "`+s.URL+`/slow"`), nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := d.Execute(ctx); err == nil {
		t.Error("a cancelled request succeeded")
	}
}

func TestConfigErrors(t *testing.T) {
	for src, want := range map[string]string{
		`url = "ftp://x/y"`: "url must be",
		"url = \"http://127.0.0.1/\"\nmethod = \"BREW\"":    "method must be",
		"url = \"http://127.0.0.1/\"\nrequest_body = \"x\"": "has no body",
		`method = "GET"`: "Missing required argument",
	} {
		_, diags := New(parse(t, src), nil)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), want) {
			t.Errorf("%s: got %v, want %q", src, diags, want)
		}
		for _, d := range diags {
			if d.Subject == nil {
				t.Errorf("%s: diagnostic without a range: %s", src, d.Summary)
			}
		}
	}
}

package datasource_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/internal/testenv"
)

// validateSrc uses every data source kiln embeds, with endpoints nothing
// listens on: validation must not call out.
const validateSrc = `
data "amazon-ami" "base" {
  region              = "us-east-1"
  custom_endpoint_ec2 = "http://127.0.0.1:PORT"
  filters             = { name = "debian-12-*" }
  owners              = ["136693071363"]
  most_recent         = true
}
data "amazon-parameterstore" "al" {
  name   = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
  region = "us-east-1"
}
data "http" "v" {
  url = "http://127.0.0.1:PORT/version"
}
data "null" "n" {
  input = data.http.v.body
}
locals {
  version = trimspace(data.null.n.output)
}
source "amazon-ebs" "web" {
  region        = "us-east-1"
  source_ami    = coalesce(data.amazon-ami.base.id, data.amazon-parameterstore.al.value)
  instance_type = "t3.micro"
  ami_name      = "web-${local.version}"
  ssh_username  = "admin"
  tags          = { Base = data.amazon-ami.base.EXTRA }
}
build {
  sources = ["source.amazon-ebs.web"]
}
`

// kiln validate leaves data values unknown, so it needs no network (the
// endpoints are a port nothing listens on), yet checks references to the
// data sources' outputs.
func TestValidateWithoutCalls(t *testing.T) {
	src := strings.ReplaceAll(validateSrc, "PORT", strconv.Itoa(testenv.FreePort(t)))
	tpl := load(t, strings.Replace(src, "EXTRA", "name", 1))
	if diags := kiln.Validate(tpl); len(diags) > 0 {
		t.Fatalf("validate: %v", diags)
	}
	if !tpl.HasPendingData() {
		t.Error("validation ran the data sources")
	}

	tpl = load(t, strings.Replace(src, "EXTRA", "nmae", 1))
	diags := kiln.Validate(tpl)
	line := 1 + strings.Count(src[:strings.Index(src, "EXTRA")], "\n")
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, "nmae") || diags[0].Subject.Start.Line != line {
		t.Errorf("a misspelt output attribute: want one error on line %d, got %v", line, diags)
	}
}

// Each data source reports a bad configuration when the template loads,
// at the attribute or block at fault.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
		line             int
	}{
		{"ami-no-filter", "amazon-ami\" \"x\" {\n  region = \"us-east-1\"\n}", "needs filters or owners", 1},
		{"ami-no-owner", "amazon-ami\" \"x\" {\n  filters = { name = \"debian-*\" }\n}", "Missing AMI owner", 2},
		{"ami-access", "amazon-ami\" \"x\" {\n  owners = [\"self\"]\n  access_key = \"AKIA\"\n}", "access_key and secret_key", 3},
		{"ami-unknown", "amazon-ami\" \"x\" {\n  owners = [\"self\"]\n  most_recnt = true\n}", "most_recnt", 3},
		{"parameter-no-name", "amazon-parameterstore\" \"x\" {\n  region = \"us-east-1\"\n}", "\"name\" is required", 1},
		{"http-url", "http\" \"x\" {\n  url = \"file:///etc/passwd\"\n}", "url must be", 2},
		{"null-no-input", "null\" \"x\" {\n}", "\"input\" is required", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte("data \""+tc.body+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, diags := kiln.Load(dir)
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			d := diags.Errs()[0].(*hcl.Diagnostic)
			if !strings.Contains(d.Summary+" "+d.Detail, tc.want) || d.Subject == nil || d.Subject.Start.Line != tc.line {
				t.Errorf("got %s: %s at %v; want %q on line %d", d.Summary, d.Detail, d.Subject, tc.want, tc.line)
			}
		})
	}
}

// kiln.Build reports problems that do not depend on data values before it
// looks anything up.
func TestBuildChecksBeforeLookups(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	tpl := load(t, `
data "http" "v" {
  url = "`+srv.URL+`"
}
source "null" "x" {
  communicator = "none"
  no_such_option = data.http.v.body
}
build {
  sources = ["source.null.x"]
}
`)
	_, err := kiln.Build(context.Background(), tpl)
	if err == nil || !strings.Contains(err.Error(), "no_such_option") || hits.Load() != 0 {
		t.Errorf("err %v after %d requests; want the bad option reported before any request", err, hits.Load())
	}
}

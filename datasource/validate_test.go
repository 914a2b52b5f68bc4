package datasource_test

import (
	"strconv"
	"strings"
	"testing"

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

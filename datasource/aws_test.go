package datasource_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/builder/amazonebs"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/testboot"
	"github.com/kilnhq/kiln/internal/testenv"
	"github.com/kilnhq/kiln/internal/testmoto"
	"github.com/kilnhq/kiln/template"
)

const region = "us-east-1"

// rig is moto, the boot player, an HTTP server on 127.0.0.1 and the
// environment through which the data sources' SDK calls reach moto.
type rig struct {
	t    *testing.T
	moto *testmoto.Server
	ec2  *ec2.Client
	ssm  *ssm.Client
	port int
	web  *httptest.Server
	boot *testboot.Player
}

func newRig(t *testing.T) *rig {
	t.Helper()
	moto := testmoto.Start(t)
	// The SDK's default chain, as a user's environment would set it:
	// amazon-parameterstore has no endpoint option of its own.
	home := t.TempDir()
	moto.Setenv(t, home)
	t.Setenv("XDG_CACHE_HOME", home) // amazon-ebs's journal
	r := &rig{
		t: t, moto: moto, port: testenv.FreePort(t),
		ec2: ec2.NewFromConfig(moto.Config(region)),
		ssm: ssm.NewFromConfig(moto.Config(region)),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "2.3.4\n") })
	r.web = httptest.NewServer(mux)
	t.Cleanup(r.web.Close)
	r.boot = testboot.Start(t, moto, region, r.port)
	return r
}

// catalogImages returns n EBS-backed Ubuntu images of moto's catalog.
func (r *rig) catalogImages(n int) []types.Image {
	r.t.Helper()
	out, err := r.ec2.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Filters: []types.Filter{
		{Name: aws.String("root-device-type"), Values: []string{"ebs"}},
		{Name: aws.String("name"), Values: []string{"ubuntu/images/*"}},
	}})
	if err != nil || len(out.Images) < n {
		r.t.Fatalf("find %d catalog images in moto: %v (%d found)", n, err, len(out.Images))
	}
	return out.Images[:n]
}

func (r *rig) putParameter(name, value string, typ ssmtypes.ParameterType, dataType string) {
	r.t.Helper()
	in := &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value), Type: typ}
	if dataType != "" {
		in.DataType = aws.String(dataType)
	}
	if _, err := r.ssm.PutParameter(context.Background(), in); err != nil {
		r.t.Fatalf("put parameter %s: %v", name, err)
	}
}

// source is an amazon-ebs source block body for the rig, with its source
// image given by sourceAMI (an expression).
func (r *rig) source(sourceAMI string) string {
	u, _ := user.Current()
	return fmt.Sprintf(`
source "amazon-ebs" "web" {
  region              = %q
  access_key          = "testing"
  secret_key          = "testing"
  custom_endpoint_ec2 = %q
  source_ami          = %s
  instance_type       = "t3.micro"
  ami_name            = "web-${local.version}-{{ timestamp }}"
  ssh_host            = "127.0.0.1"
  ssh_port            = %d
  ssh_username        = %q
  ssh_timeout         = "30s"
  tags = {
    SourceAMI = "{{ .SourceAMI }}"
  }
}
`, region, r.moto.Endpoint, sourceAMI, r.port, u.Username)
}

func load(t *testing.T, src string) *template.Template {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "web.pkr.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, diags := kiln.Load(dir)
	if diags.HasErrors() {
		var b strings.Builder
		tpl.WriteDiagnostics(&b, diags, false, 0)
		t.Fatalf("load:\n%s", b.String())
	}
	return tpl
}

// build runs tpl and returns the amazon-ebs artifact.
func build(t *testing.T, tpl *template.Template, ev *eventtest.Recorder) *amazonebs.Artifact {
	t.Helper()
	res, err := kiln.Build(context.Background(), tpl, kiln.WithEvents(ev))
	if err != nil {
		if d, ok := err.(hcl.Diagnostics); ok {
			var b strings.Builder
			tpl.WriteDiagnostics(&b, d, false, 0)
			t.Fatalf("build:\n%s", b.String())
		}
		t.Fatalf("build: %v\nevents:\n%s", err, strings.Join(ev.Texts(), "\n"))
	}
	for _, a := range res.Builds[0].Artifacts {
		if a, ok := a.(*amazonebs.Artifact); ok {
			return a
		}
	}
	t.Fatalf("no amazon-ebs artifact in %+v", res.Builds[0].Artifacts)
	return nil
}

// A template that takes its source AMI from amazon-parameterstore (a
// parameter the test put, pointing at a catalog image), reads a public
// parameter, two SecureString ones (one wrapped in a sensitive local, one
// not) and a version over HTTP: the build uses the parameter's image, the
// artifact records it, and neither secret ever shows.
func TestBuildFromParameterStore(t *testing.T) {
	r := newRig(t)
	img := r.catalogImages(1)[0]
	base := aws.ToString(img.ImageId)
	r.putParameter("/kiln/test/base-ami", base, ssmtypes.ParameterTypeString, "aws:ec2:image")
	const secret = "s3cr3t-t0ken-value"
	r.putParameter("/kiln/test/token", secret, ssmtypes.ParameterTypeSecureString, "")
	const password = "pa55w0rd-from-ssm"
	r.putParameter("/kiln/test/db-password", password, ssmtypes.ParameterTypeSecureString, "")

	tpl := load(t, fmt.Sprintf(`
data "amazon-parameterstore" "base" {
  name   = "/kiln/test/base-ami"
  region = %[1]q
}
data "amazon-parameterstore" "al2023" {
  name   = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
  region = %[1]q
}
data "amazon-parameterstore" "token" {
  name            = "/kiln/test/token"
  with_decryption = true
  region          = %[1]q
}
data "amazon-parameterstore" "db" {
  name            = "/kiln/test/db-password"
  with_decryption = true
  region          = %[1]q
}
data "http" "version" {
  url = "%[2]s/version"
}
locals {
  version = trimspace(data.http.version.body)
}
local "token" {
  expression = "Bearer ${data.amazon-parameterstore.token.value}"
  sensitive  = true
}
%[3]s
build {
  sources = ["source.amazon-ebs.web"]
  provisioner "shell" {
    inline = [
      "echo token=${local.token}",
      "echo al2023=${data.amazon-parameterstore.al2023.value}",
      "echo db=${data.amazon-parameterstore.db.value}",
    ]
  }
}
`, region, r.web.URL, r.source("data.amazon-parameterstore.base.value")))

	ev := &eventtest.Recorder{}
	a := build(t, tpl, ev)
	if a.SourceAMI != base || a.SourceAMIName != aws.ToString(img.Name) {
		t.Errorf("artifact source %s (%s), want the parameter's %s (%s)", a.SourceAMI, a.SourceAMIName, base, aws.ToString(img.Name))
	}
	if a.Tags["SourceAMI"] != base {
		t.Errorf("image tag SourceAMI = %q, want %s", a.Tags["SourceAMI"], base)
	}
	out, err := r.ec2.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{a.Images[region]}})
	if err != nil || len(out.Images) != 1 || !strings.HasPrefix(aws.ToString(out.Images[0].Name), "web-2.3.4-") {
		t.Errorf("the image is not named from the HTTP version: %v %+v", err, out)
	}

	al, err := r.ssm.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")})
	if err != nil {
		t.Fatal(err)
	}
	got := tpl.Data[template.DataRef{Type: "amazon-parameterstore", Name: "al2023"}].Value
	if got.GetAttr("value").AsString() != aws.ToString(al.Parameter.Value) || got.GetAttr("arn").AsString() != aws.ToString(al.Parameter.ARN) {
		t.Errorf("data.amazon-parameterstore.al2023 = %#v, want %s", got, aws.ToString(al.Parameter.Value))
	}
	if v, _ := got.GetAttr("version").AsBigFloat().Int64(); v != al.Parameter.Version {
		t.Errorf("version %d, want %d", v, al.Parameter.Version)
	}

	texts := ev.Texts()
	if !slices.ContainsFunc(texts, func(s string) bool {
		return strings.HasPrefix(s, "data.amazon-parameterstore.base = ") && strings.Contains(s, base)
	}) {
		t.Errorf("no event shows the data source's result:\n%s", strings.Join(texts, "\n"))
	}
	if !slices.Contains(texts, "token=<sensitive>") || !slices.Contains(texts, "db=<sensitive>") || !slices.Contains(texts, "al2023="+aws.ToString(al.Parameter.Value)) {
		t.Errorf("provisioner output not as expected:\n%s", strings.Join(texts, "\n"))
	}
	for _, s := range texts {
		if strings.Contains(s, secret) || strings.Contains(s, password) {
			t.Errorf("a sensitive value leaked into an event: %q", s)
		}
	}
	if !slices.Contains(tpl.SensitiveValues(), secret) || !slices.Contains(tpl.SensitiveValues(), "Bearer "+secret) {
		t.Error("SensitiveValues lacks the sensitive local made from a data source, or the data value it uses")
	}
}

// amazon-ami with most_recent picks one of the images its filters match,
// and the build uses it; without most_recent, several matches are an error
// at the block naming the filters, and so is no match.
func TestBuildFromAMIFilter(t *testing.T) {
	r := newRig(t)
	imgs := r.catalogImages(2)
	var ids []string
	for _, img := range imgs {
		ids = append(ids, aws.ToString(img.ImageId))
	}
	if _, err := r.ec2.CreateTags(context.Background(), &ec2.CreateTagsInput{
		Resources: ids, Tags: []types.Tag{{Key: aws.String("kiln-base"), Value: aws.String("web")}},
	}); err != nil {
		t.Fatal(err)
	}
	owner := aws.ToString(imgs[0].OwnerId)
	data := func(name, filter, extra string) string {
		return fmt.Sprintf(`
data "amazon-ami" %q {
  region              = %q
  custom_endpoint_ec2 = %q
  filters = {
    "tag:kiln-base"  = %q
    root-device-type = "ebs"
  }
  owners = [%q]
  %s
}
`, name, region, r.moto.Endpoint, filter, owner, extra)
	}

	bad := load(t, data("several", "web", "")+data("none", "nothing", "most_recent = true"))
	diags := bad.EvaluateDataSources(context.Background())
	if len(diags) != 2 {
		t.Fatalf("want 2 errors, got %v", diags)
	}
	for _, d := range diags {
		switch {
		case strings.Contains(d.Summary, "amazon-ami.several"):
			if d.Subject.Start.Line != 2 || !strings.Contains(d.Detail, "2 images match filters {root-device-type=ebs, tag:kiln-base=web} owners ["+owner+"]") {
				t.Errorf("several: %s at %s", d.Detail, d.Subject)
			}
		case strings.Contains(d.Summary, "amazon-ami.none"):
			if d.Subject.Start.Line != 13 || !strings.Contains(d.Detail, "no image matches filters {root-device-type=ebs, tag:kiln-base=nothing}") {
				t.Errorf("none: %s at %s", d.Detail, d.Subject)
			}
		default:
			t.Errorf("unexpected %s: %s", d.Summary, d.Detail)
		}
	}

	tpl := load(t, data("base", "web", "most_recent = true")+`
locals {
  version = "1.0.0"
}
`+r.source("data.amazon-ami.base.id")+`
build {
  sources = ["source.amazon-ebs.web"]
  provisioner "shell" {
    inline = ["echo from ${data.amazon-ami.base.name}"]
  }
}
`)
	ev := &eventtest.Recorder{}
	a := build(t, tpl, ev)
	v := tpl.Data[template.DataRef{Type: "amazon-ami", Name: "base"}].Value
	id := v.GetAttr("id").AsString()
	if !slices.Contains(ids, id) || a.SourceAMI != id {
		t.Fatalf("data source chose %s, the build used %s; want one of %v", id, a.SourceAMI, ids)
	}
	img := imgs[slices.Index(ids, id)]
	for attr, want := range map[string]string{
		"name": aws.ToString(img.Name), "creation_date": aws.ToString(img.CreationDate),
		"owner": owner, "owner_name": aws.ToString(img.ImageOwnerAlias), "root_device_type": "ebs",
	} {
		if got := v.GetAttr(attr).AsString(); got != want {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}
	if tag := v.GetAttr("tags").Index(cty.StringVal("kiln-base")); tag.AsString() != "web" {
		t.Errorf("tags = %#v", v.GetAttr("tags"))
	}
	if !slices.Contains(ev.Texts(), "from "+aws.ToString(img.Name)) {
		t.Errorf("provisioner did not see the image name:\n%s", strings.Join(ev.Texts(), "\n"))
	}
}

package kiln_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/build"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/testenv"
	"github.com/kilnhq/kiln/internal/testsshd"
)

// outputs returns "build line" for each output line rec saw.
func outputs(rec *eventtest.Recorder) []string {
	var out []string
	for _, o := range eventtest.Of[*event.Output](rec) {
		out = append(out, o.Build+" "+o.Line)
	}
	return out
}

func writeTemplate(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "it.pkr.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBuildNullOverSSH runs a whole build against a real OpenSSH sshd: the
// null builder connects with a verified host key, shell and file
// provisioners work on the host, a failing provisioner is named, sensitive
// values never reach an event, and the manifest records the build.
func TestBuildNullOverSSH(t *testing.T) {
	srv := testsshd.Start(t)
	work := t.TempDir() // sshd runs on this machine: remote paths are local ones
	dir := writeTemplate(t, `
variable "token" {
  type      = string
  default   = "tok-5b1f0e"
  sensitive = true
}

source "null" "sshd" {
`+srv.HCL()+`
}

build {
  name    = "it"
  sources = ["source.null.sshd"]

  provisioner "shell" {
    environment_vars = ["GREETING=hello", "TOKEN=${var.token}"]
    inline = [
      "echo $GREETING from port ${build.Port} as ${build.User}",
      "echo token $TOKEN",
      "echo ${build.ConnType} > `+work+`/conn",
    ]
  }

  provisioner "file" {
    content     = "uploaded by ${source.name}"
    destination = "`+work+`/uploaded"
  }

  provisioner "shell" {
    only   = ["null.other"]
    inline = ["exit 9"]
  }

  post-processor "manifest" {
    output = "`+work+`/manifest.json"
  }
}
`)
	tpl, diags := kiln.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rec := &eventtest.Recorder{}
	res, err := kiln.Build(context.Background(), tpl, kiln.WithEvents(rec))
	if err != nil {
		t.Fatalf("Build: %v\nsshd log:\n%s", err, srv.Log())
	}
	if len(res.Builds) != 1 || res.Builds[0].Name != "it.null.sshd" {
		t.Fatalf("builds %+v", res.Builds)
	}
	outs := outputs(rec)
	for _, want := range []string{
		"it.null.sshd hello from port " + strconv.Itoa(srv.Port) + " as " + srv.User,
		"it.null.sshd token <sensitive>",
	} {
		if !slices.Contains(outs, want) {
			t.Errorf("no output %q in %q", want, outs)
		}
	}
	for _, e := range rec.Events() {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), "tok-5b1f0e") {
			t.Errorf("sensitive value in event %s", b)
		}
	}
	if b, err := os.ReadFile(filepath.Join(work, "conn")); err != nil || string(b) != "ssh\n" {
		t.Errorf("conn file %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(work, "uploaded")); err != nil || string(b) != "uploaded by sshd" {
		t.Errorf("uploaded file %q, %v", b, err)
	}
	var manifest struct {
		Builds []struct {
			Name        string `json:"name"`
			BuilderType string `json:"builder_type"`
			ArtifactID  string `json:"artifact_id"`
			RunUUID     string `json:"packer_run_uuid"`
		} `json:"builds"`
	}
	b, err := os.ReadFile(filepath.Join(work, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Builds) != 1 || manifest.Builds[0].BuilderType != "null" || manifest.Builds[0].ArtifactID != "Null" ||
		manifest.Builds[0].RunUUID != res.RunID {
		t.Errorf("manifest %s", b)
	}
}

func TestBuildNamesTheFailingProvisioner(t *testing.T) {
	srv := testsshd.Start(t)
	src := `
source "null" "sshd" {
` + srv.HCL() + `
}

build {
  sources = ["source.null.sshd"]

  provisioner "shell" {
    inline = ["echo before", "exit 3"]
  }

  provisioner "shell" {
    inline = ["echo never"]
  }
}
`
	dir := writeTemplate(t, src)
	line := 1 + strings.Count(src[:strings.Index(src, `provisioner "shell"`)], "\n")
	tpl, diags := kiln.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rec := &eventtest.Recorder{}
	res, err := kiln.Build(context.Background(), tpl, kiln.WithEvents(rec))
	if err == nil {
		t.Fatal("Build succeeded, want the provisioner's failure")
	}
	berr := res.Builds[0].Err
	if berr == nil || berr.Error() != `provisioner "shell" (it.pkr.hcl:`+strconv.Itoa(line)+`): exit status 3` {
		t.Errorf("build error %v, want it to name the block and the status", berr)
	}
	outs := outputs(rec)
	if !slices.Contains(outs, "null.sshd before") || slices.Contains(outs, "null.sshd never") {
		t.Errorf("outputs %q", outs)
	}
}

func TestBuildInvalidTemplateRunsNothing(t *testing.T) {
	tpl, diags := kiln.Load("testdata/invalid")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rec := &eventtest.Recorder{}
	res, err := kiln.Build(context.Background(), tpl, kiln.WithEvents(rec))
	var d hcl.Diagnostics
	if res != nil || !errors.As(err, &d) || len(d) != 2 {
		t.Fatalf("Build = %v, %v; want no result and the diagnostics", res, err)
	}
	if n := len(rec.Events()); n != 0 {
		t.Errorf("events from a template that did not validate: %d", n)
	}
}

func TestDefaultRegistries(t *testing.T) {
	reg := kiln.DefaultRegistries()
	for _, c := range []struct {
		got  []string
		want []string
	}{
		{reg.Builders.Names(), []string{"amazon-ebs", "null", "qemu"}},
		{reg.Provisioners.Names(), []string{"file", "shell", "shell-local"}},
		{reg.PostProcessors.Names(), []string{"checksum", "manifest", "shell-local"}},
	} {
		for _, w := range c.want {
			if !slices.Contains(c.got, w) {
				t.Errorf("%q missing from %v", w, c.got)
			}
		}
	}
}

func TestOnlyExceptOptions(t *testing.T) {
	dir := writeTemplate(t, `
source "null" "a" { communicator = "none" }
source "null" "b" { communicator = "none" }
build {
  sources = ["source.null.a", "source.null.b"]
}
`)
	tpl, diags := kiln.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, err := kiln.Build(context.Background(), tpl, kiln.WithExcept("*.a"), kiln.WithParallelBuilds(1))
	if err != nil || len(res.Builds) != 1 || res.Builds[0].Name != "null.b" {
		t.Fatalf("Build = %+v, %v", res, err)
	}
	if diags := kiln.Validate(tpl, kiln.WithOnly("null.c")); len(diags) != 1 || diags[0].Severity != hcl.DiagWarning {
		t.Errorf("Validate with an -only matching nothing: %v", diags)
	}
}

func TestBuildWithoutCommunicator(t *testing.T) {
	dir := writeTemplate(t, `
source "null" "none" { communicator = "none" }
build {
  sources = ["source.null.none"]
  provisioner "shell-local" { inline = ["true"] }
  provisioner "shell" { inline = ["true"] }
}
`)
	tpl, diags := kiln.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, err := kiln.Build(context.Background(), tpl)
	if !errors.Is(err, build.ErrNoCommunicator) {
		t.Fatalf("Build error %v, want ErrNoCommunicator", err)
	}
	if msg := res.Builds[0].Err.Error(); !strings.HasPrefix(msg, `provisioner "shell" (it.pkr.hcl:6): `) {
		t.Errorf("error %q does not name the shell provisioner", msg)
	}
}

// failingDataTemplate has a data source that fails (an HTTP GET of a closed
// loopback port, given as the format's argument) and a provisioner whose
// command depends on its value.
const failingDataTemplate = `
data "http" "x" {
  url = "http://127.0.0.1:%d/body"
}
locals {
  body = data.http.x.body
}
source "null" "none" { communicator = "none" }
build {
  sources = ["source.null.none"]
  provisioner "shell-local" { inline = ["echo ${local.body}"] }
}
`

// A data source that failed fails every Build of the template the same way:
// the second Build does not run the provisioner that depends on it with the
// attribute left unset.
func TestBuildAfterDataSourceFailure(t *testing.T) {
	dir := writeTemplate(t, fmt.Sprintf(failingDataTemplate, testenv.FreePort(t)))
	tpl, diags := kiln.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for i := range 2 {
		rec := &eventtest.Recorder{}
		res, err := kiln.Build(context.Background(), tpl, kiln.WithEvents(rec))
		if err == nil || !strings.Contains(err.Error(), "Data source http.x failed") {
			t.Fatalf("Build %d: error %v, want the data source's failure", i+1, err)
		}
		if res != nil || len(rec.Lines()) > 0 {
			t.Errorf("Build %d ran something: result %v, output %q", i+1, res, rec.Lines())
		}
	}
}

// A program that runs builds itself after a failed data source gets an
// error on the attribute whose value is not known, not a provisioner run
// with that attribute unset.
func TestRunWithUnknownValue(t *testing.T) {
	dir := writeTemplate(t, fmt.Sprintf(failingDataTemplate, testenv.FreePort(t)))
	tpl, diags := kiln.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if diags := tpl.EvaluateDataSources(context.Background()); !diags.HasErrors() {
		t.Fatal("the data source did not fail")
	}
	builds, diags := build.Plan(tpl, kiln.DefaultRegistries(), nil, nil)
	if diags.HasErrors() {
		t.Fatalf("validation with unknown values: %v", diags)
	}
	rec := &eventtest.Recorder{}
	res := build.Run(context.Background(), tpl, builds, build.Options{Events: rec})
	err := res.Builds[0].Err
	if err == nil || !strings.Contains(err.Error(), "it.pkr.hcl:11") ||
		!strings.Contains(err.Error(), "not known when the build runs: it depends on data.http.x, which failed") {
		t.Errorf("Run error %v, want the unknown inline at its range", err)
	}
	if len(rec.Lines()) > 0 {
		t.Errorf("the provisioner ran: %q", rec.Lines())
	}
}

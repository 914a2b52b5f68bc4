package shelllocal

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/provisioner"
)

func TestProvision(t *testing.T) {
	f, _ := hclsyntax.ParseConfig([]byte(`inline = ["echo $PACKER_BUILD_NAME {{ .Host }}"]`), "t.pkr.hcl", hcl.InitialPos)
	p, diags := New(f.Body, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rec := &eventtest.Recorder{}
	env := &provisioner.Env{
		Info:   builder.Info{Name: "null.box", Type: "null", SourceName: "box"},
		Source: `provisioner "shell-local"`,
		Events: rec,
		Data:   map[string]string{"Host": "127.0.0.1"},
	}
	if err := p.Provision(context.Background(), env, nil); err != nil {
		t.Fatal(err)
	}
	if lines := rec.Lines(); strings.Join(lines, "|") != "box 127.0.0.1" {
		t.Errorf("output = %q", lines)
	}
}

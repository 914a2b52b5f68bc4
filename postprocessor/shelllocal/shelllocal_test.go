package shelllocal

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/postprocessor"
)

type stateArtifact struct{ data map[string]string }

func (stateArtifact) BuilderType() string { return "null" }
func (stateArtifact) ID() string          { return "Null" }
func (stateArtifact) Files() []string     { return nil }
func (stateArtifact) String() string      { return "nothing" }
func (a stateArtifact) State(key string) any {
	if key == "generated_data" {
		return a.data
	}
	return nil
}

func TestPostProcess(t *testing.T) {
	f, _ := hclsyntax.ParseConfig([]byte(`inline = ["echo $PACKER_BUILD_NAME $PACKER_BUILDER_TYPE {{ .ID }}"]`), "t.pkr.hcl", hcl.InitialPos)
	pp, diags := New(f.Body, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rec := &eventtest.Recorder{}
	env := &postprocessor.Env{
		Info:   builder.Info{Name: "web.null.box", Type: "null", SourceName: "box"},
		Source: `post-processor "shell-local"`,
		Events: rec,
	}
	in := &stateArtifact{data: map[string]string{"ID": "Null"}}
	out, keep, err := pp.PostProcess(context.Background(), env, in)
	if err != nil {
		t.Fatal(err)
	}
	if out != in || !keep {
		t.Errorf("got (%v, %v), want the input artifact, kept", out, keep)
	}
	if lines := rec.Lines(); strings.Join(lines, "|") != "box null Null" {
		t.Errorf("output = %q", lines)
	}

	f, _ = hclsyntax.ParseConfig([]byte(`inline = ["exit 7"]`), "t.pkr.hcl", hcl.InitialPos)
	pp, _ = New(f.Body, nil)
	if _, _, err := pp.PostProcess(context.Background(), env, in); err == nil || err.Error() != "exit status 7" {
		t.Errorf("err = %v, want exit status 7", err)
	}
}

package checksum

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/testenv"
	"github.com/kilnhq/kiln/postprocessor"
)

type fileArtifact struct{ files []string }

func (a *fileArtifact) BuilderType() string { return "qemu" }
func (a *fileArtifact) ID() string          { return "disk" }
func (a *fileArtifact) Files() []string     { return a.files }
func (a *fileArtifact) String() string      { return "disk" }

func decode(src string) (postprocessor.PostProcessor, hcl.Diagnostics) {
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	return New(f.Body, nil)
}

var env = &postprocessor.Env{
	Info:   builder.Info{Name: "web.qemu.box", Type: "qemu", SourceName: "box"},
	Events: event.Discard,
}

// tool runs a checksum tool on files in dir, independently of Go's hashes.
func tool(t *testing.T, name, dir string, files ...string) string {
	t.Helper()
	cmd := exec.Command(testenv.Tool(t, name), files...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	// coreutils writes "HEX  NAME"; Packer's format is "HEX\tNAME".
	return strings.ReplaceAll(string(out), "  ", "\t")
}

func TestChecksumsMatchCoreutils(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, n := range []string{"disk.qcow2", "efivars.fd"} {
		data := make([]byte, 2<<20+13)
		rand.Read(data)
		p := filepath.Join(dir, "output", n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, data, 0o644)
		files = append(files, p)
	}
	outDir := filepath.Join(dir, "sums")
	pp, diags := decode(`
checksum_types = ["sha256", "md5", "sha512"]
output = "` + outDir + `/{{.BuildName}}_{{.BuilderType}}.{{.ChecksumType}}"
`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	in := &fileArtifact{files: files}
	out, keep, err := pp.PostProcess(context.Background(), env, in)
	if err != nil {
		t.Fatal(err)
	}
	if !keep {
		t.Error("the input artifact must be kept")
	}
	for _, c := range []struct{ ct, tool string }{{"sha256", "sha256sum"}, {"md5", "md5sum"}, {"sha512", "sha512sum"}} {
		got, err := os.ReadFile(filepath.Join(outDir, "box_qemu."+c.ct))
		if err != nil {
			t.Fatal(err)
		}
		want := tool(t, c.tool, filepath.Join(dir, "output"), "disk.qcow2", "efivars.fd")
		if string(got) != want {
			t.Errorf("%s file:\n%q\nwant\n%q", c.ct, got, want)
		}
	}
	wantFiles := append(slices.Clone(files), filepath.Join(outDir, "box_qemu.sha256"), filepath.Join(outDir, "box_qemu.md5"), filepath.Join(outDir, "box_qemu.sha512"))
	if !slices.Equal(out.Files(), wantFiles) || out.BuilderType() != "checksum" {
		t.Errorf("artifact %s files %q, want checksum %q", out.BuilderType(), out.Files(), wantFiles)
	}
}

func TestDefaultOutputAndType(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.img")
	os.WriteFile(file, []byte("hello\n"), 0o644)
	t.Chdir(dir)
	pp, diags := decode(``)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, _, err := pp.PostProcess(context.Background(), env, &fileArtifact{files: []string{file}}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "packer_box_qemu_md5.checksum"))
	if err != nil {
		t.Fatal(err)
	}
	if want := tool(t, "md5sum", dir, "a.img"); string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNoFiles(t *testing.T) {
	pp, _ := decode(``)
	for _, in := range []*fileArtifact{nil, {}} {
		var err error
		if in == nil {
			_, _, err = pp.PostProcess(context.Background(), env, nil)
		} else {
			_, _, err = pp.PostProcess(context.Background(), env, in)
		}
		if err == nil || !strings.Contains(err.Error(), "nothing to checksum") {
			t.Errorf("err = %v, want an explanation", err)
		}
	}
}

func TestValidation(t *testing.T) {
	for src, want := range map[string]string{
		`checksum_types = ["sha256", "crc32"]`: "Unknown checksum type",
		`output = "{{.BuildName"`:              "Invalid output",
	} {
		if _, diags := decode(src); !diags.HasErrors() || !strings.Contains(diags.Error(), want) {
			t.Errorf("%s: diags = %v, want %q", src, diags, want)
		}
	}
}

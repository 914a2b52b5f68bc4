package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/family"
)

// familyCtx is the context the engine decodes a source of family web in.
var familyCtx = family.EvalContext(nil, "web", "")

func TestFamilyNamesAndInputs(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	if err := os.WriteFile(base, []byte("base image"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `
disk_image   = true
iso_url      = "` + base + `"
iso_checksum = "none"
ssh_username = "root"
`
	b, diags := decode(t, src, familyCtx)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	name, err := b.ImageName("web", "1.2.3")
	out, oerr := b.familyOutputDir("web", "1.2.3", name)
	if err != nil || oerr != nil || name != "web-1.2.3" || out != filepath.Join("output-web", "web-1.2.3") {
		t.Errorf("name %q, output %q, %v, %v", name, out, err, oerr)
	}
	cat, err := b.FamilyCatalog(context.Background(), "web")
	if err != nil || !strings.HasSuffix(cat.(*family.Local).Root, "output-web") {
		t.Errorf("catalog %+v, %v", cat, err)
	}
	cfg1, id1, err := b.FamilySource(context.Background())
	if err != nil || !strings.HasPrefix(id1, "sha256:") {
		t.Fatalf("source %q, %v", id1, err)
	}
	if err := os.WriteFile(base, []byte("base image 2"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg2, id2, err := b.FamilySource(context.Background())
	if err != nil || id1 == id2 || string(cfg1) != string(cfg2) {
		t.Errorf("a changed base image: %q → %q (config %s, %s), %v", id1, id2, cfg1, cfg2, err)
	}
	// Without a family, names are as before.
	plain, diags := decode(t, src, nil)
	if diags.HasErrors() || plain.cfg.VMName != "" || plain.cfg.OutputDirectory != "" {
		t.Errorf("plain: %+v %v", plain.cfg, diags)
	}
}

func TestFamilySidecar(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "web-1.0.0")
	os.MkdirAll(dir, 0o755)
	image := filepath.Join(dir, "web-1.0.0.qcow2")
	os.WriteFile(image, []byte("x"), 0o644)
	b, diags := decode(t, "disk_image = true\niso_url = \"x.qcow2\"\niso_checksum = \"none\"\n", familyCtx)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	img := &builder.Image{Name: "web-1.0.0", Family: "web", Version: "1.0.0", Tags: map[string]string{
		family.TagFamily: "web", family.TagVersion: "1.0.0", family.TagStatus: family.StatusBuilt,
	}}
	a := &Artifact{dir: dir, image: image, files: []string{image, image + ".sha256"}}
	if err := writeSidecar(a, img); err != nil {
		t.Fatal(err)
	}
	imgs, err := (&family.Local{Root: filepath.Dir(dir)}).Images(context.Background(), "web")
	if err != nil || len(imgs) != 1 || imgs[0].IDs[family.LocalRegion] != image || imgs[0].Name != "web-1.0.0" || imgs[0].Status != family.StatusBuilt {
		t.Fatalf("images %+v, %v", imgs, err)
	}
	if got := b.FamilyArtifact(imgs[0]).ID(); got != image {
		t.Errorf("artifact %s", got)
	}
}

// TestFamilyNamedAttributes: vm_name and output_directory written with
// ${family.version} name each version of a source decoded once; another
// attribute that uses the version is an error at its range, not an
// option silently left unset.
func TestFamilyNamedAttributes(t *testing.T) {
	src := `
disk_image       = true
iso_url          = "base.qcow2"
iso_checksum     = "none"
vm_name          = "${family.name}-${family.version}.qcow2"
output_directory = "out/v${family.version}"
`
	b, diags := decode(t, src, familyCtx)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, v := range []string{"1.0.0", "1.0.1"} {
		name, err := b.ImageName("web", v)
		out, oerr := b.familyOutputDir("web", v, name)
		if err != nil || oerr != nil || name != "web-"+v || out != "out/v"+v {
			t.Errorf("%s: name %q, output %q, %v, %v", v, name, out, err, oerr)
		}
	}
	cat, err := b.FamilyCatalog(context.Background(), "web")
	if err != nil || filepath.Base(cat.(*family.Local).Root) != "out" {
		t.Errorf("catalog %+v, %v", cat, err)
	}
	_, diags = decode(t, src+`ssh_username = "u${family.version}"`+"\n", familyCtx)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "family.version cannot be used in ssh_username") || diags[0].Subject.Start.Line != 7 {
		t.Errorf("family.version in ssh_username: %v", diags)
	}
	if _, diags := decode(t, src+`ssh_username = "${family.name}"`+"\n", familyCtx); diags.HasErrors() {
		t.Errorf("family.name in ssh_username: %v", diags)
	}
}

package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/family"
)

func familyCtx(version string) *hcl.EvalContext {
	v := cty.UnknownVal(cty.String)
	if version != "" {
		v = cty.StringVal(version)
	}
	return &hcl.EvalContext{Variables: map[string]cty.Value{
		"family": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("web"), "version": v}),
	}}
}

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
	b, diags := decode(t, src, familyCtx("1.2.3"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if b.ImageName() != "web-1.2.3" || b.cfg.OutputDirectory != filepath.Join("output-web", "web-1.2.3") {
		t.Errorf("name %q, output %q", b.ImageName(), b.cfg.OutputDirectory)
	}
	cat, err := b.FamilyCatalog(context.Background())
	if err != nil || !strings.HasSuffix(cat.(*family.Local).Root, "output-web") {
		t.Errorf("catalog %+v, %v", cat, err)
	}
	// Validation, with the version unknown, still decodes.
	if _, diags := decode(t, src, familyCtx("")); diags.HasErrors() {
		t.Errorf("validation: %v", diags)
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
	b, diags := decode(t, "disk_image = true\niso_url = \"x.qcow2\"\niso_checksum = \"none\"\n", familyCtx("1.0.0"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b.SetLineage(map[string]string{family.TagFamily: "web", family.TagVersion: "1.0.0", family.TagStatus: family.StatusBuilt})
	a := &Artifact{dir: dir, image: image, files: []string{image, image + ".sha256"}}
	if err := b.writeSidecar(a); err != nil {
		t.Fatal(err)
	}
	imgs, err := (&family.Local{Root: filepath.Dir(dir)}).Images(context.Background(), "web")
	if err != nil || len(imgs) != 1 || imgs[0].IDs[family.LocalRegion] != image || imgs[0].Status != family.StatusBuilt {
		t.Fatalf("images %+v, %v", imgs, err)
	}
	if got := b.FamilyArtifact(imgs[0]).ID(); got != image {
		t.Errorf("artifact %s", got)
	}
}

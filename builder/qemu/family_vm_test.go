package qemu_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/builder/qemu"
	"github.com/kilnhq/kiln/family"
	"github.com/kilnhq/kiln/internal/testenv"
)

const familyVMTemplate = `
source "qemu" "web" {
  disk_image       = true
  iso_url          = "%[1]s/base.qcow2"
  iso_checksum     = "sha256:%[2]s"
  use_backing_file = true
  headless         = true
  memory           = 1024
  kernel           = "%[1]s/vmlinuz"
  initrd           = "%[1]s/initrd.img"
  kernel_args      = "root=/dev/vda rw console=ttyS0"
  ssh_username     = "root"
  ssh_timeout      = "10m"
  shutdown_command = "systemctl poweroff"
  output_directory = "%[3]s/web-${family.version}"
}
build {
  sources = ["source.qemu.web"]
  family {
    name    = "web"
    channel = "candidate"
    test {
      provisioner "shell" {
        inline = ["grep -q baked /etc/kiln-family"]
      }
    }
  }
  provisioner "shell" {
    inline = ["echo baked > /etc/kiln-family"]
  }
}
`

// TestVMFamily builds a family version with qemu, tests it on a second VM
// booted from the new image, and rebuilds without changes: nothing boots.
func TestVMFamily(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "xorriso"} {
		testenv.Tool(t, tool)
	}
	base := qemu.BaseImage(t)
	f, err := os.Open(filepath.Join(base, "base.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir, root := t.TempDir(), t.TempDir()
	src := fmt.Sprintf(familyVMTemplate, base, hex.EncodeToString(h.Sum(nil)), root)
	if err := os.WriteFile(filepath.Join(dir, "web.pkr.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, diags := kiln.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := kiln.Build(ctx, tpl)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Logf("build and test of 1.0.0: %s", time.Since(start).Round(time.Second))
	image := filepath.Join(root, "web-1.0.0", "web-1.0.0.qcow2")
	if got := res.Builds[0].Artifacts[0].ID(); got != image {
		t.Errorf("artifact %s, want %s", got, image)
	}
	cat := &family.Local{Root: root}
	img, err := family.Find(ctx, cat, "web", "1.0.0")
	if err != nil || img.Status != family.StatusTested || img.Tags[family.TagSourceImage] == "" {
		t.Fatalf("1.0.0: %+v, %v", img, err)
	}
	if chs, err := cat.Channels(ctx, "web"); err != nil || chs["candidate"] != "1.0.0" {
		t.Errorf("channels %v, %v", chs, err)
	}

	tpl, _ = kiln.Load(dir)
	start = time.Now()
	res, err = kiln.Build(ctx, tpl)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("unchanged build: %v", err)
	}
	t.Logf("unchanged rebuild: %s", took.Round(time.Millisecond))
	if got := res.Builds[0].Artifacts[0].ID(); got != image {
		t.Errorf("unchanged build returned %s, want %s", got, image)
	}
	if imgs, _ := cat.Images(ctx, "web"); len(imgs) != 1 {
		t.Errorf("unchanged build made a version: %+v", imgs)
	}
}

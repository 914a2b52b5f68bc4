package qemu

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/step"
)

// diskInfo is what the disk tests read back from qemu-img.
type diskInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
	Backing     string `json:"backing-filename"`
	Spec        struct {
		Data struct {
			Compression string `json:"compression-type"`
		} `json:"data"`
	} `json:"format-specific"`
}

func readDiskInfo(t *testing.T, p string) diskInfo {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "--output=json", p).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", p, err)
	}
	var info diskInfo
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// diskSteps runs the disk steps of a build (no qemu) on a blank 64 MiB
// source and returns the state.
func diskSteps(t *testing.T, cfg Config, steps ...string) (*state, error) {
	t.Helper()
	src := blankImage(t)
	cfg.DiskImage, cfg.ISOURL, cfg.ISOChecksum = true, src, "none"
	b := &Builder{cfg: cfg}
	s := &state{env: &builder.Env{}, events: event.Discard, imageName: "disk." + cfg.format(), stage: t.TempDir(), tmp: t.TempDir()}
	all := map[string]func(context.Context, *state, *step.Undo) error{
		"fetch": b.fetch, "create": b.createDisk, "compact": b.compact, "checksum": b.checksum,
	}
	b.cacheDir = t.TempDir()
	u := &step.Undo{}
	for _, name := range append([]string{"fetch", "create"}, steps...) {
		if err := all[name](context.Background(), s, u); err != nil {
			return s, err
		}
	}
	return s, nil
}

func TestDiskOverlayResizeCompact(t *testing.T) {
	vmTools(t)
	s, err := diskSteps(t, Config{UseBackingFile: true, DiskSize: "128M"})
	if err != nil {
		t.Fatal(err)
	}
	info := readDiskInfo(t, s.disk)
	if info.Format != "qcow2" || info.Backing != s.source || info.VirtualSize != 128<<20 {
		t.Errorf("working disk: %+v (source %s)", info, s.source)
	}

	// Compaction flattens the overlay and compresses with zstd.
	s, err = diskSteps(t, Config{UseBackingFile: true, DiskCompression: true}, "compact", "checksum")
	if err != nil {
		t.Fatal(err)
	}
	info = readDiskInfo(t, s.disk)
	if info.Backing != "" || info.Spec.Data.Compression != "zstd" || info.VirtualSize != 64<<20 {
		t.Errorf("compacted disk: %+v", info)
	}
	sum, _ := fileDigest(s.disk, "sha256")
	if data, _ := exec.Command("cat", s.sumFile).Output(); string(data) != sum+"  disk.qcow2\n" {
		t.Errorf("checksum file %q", data)
	}
	if left, _ := filepath.Glob(filepath.Join(s.stage, "*.compact")); len(left) > 0 {
		t.Errorf("compaction left %v", left)
	}

	// skip_compaction keeps the overlay as it is.
	s, err = diskSteps(t, Config{UseBackingFile: true, SkipCompaction: true}, "compact")
	if err != nil {
		t.Fatal(err)
	}
	if info := readDiskInfo(t, s.disk); info.Backing != s.source {
		t.Errorf("skip_compaction: %+v", info)
	}
}

func TestDiskCopyRaw(t *testing.T) {
	vmTools(t)
	s, err := diskSteps(t, Config{Format: "raw", DiskSize: "96M"}, "compact")
	if err != nil {
		t.Fatal(err)
	}
	if info := readDiskInfo(t, s.disk); info.Format != "raw" || info.VirtualSize != 96<<20 || info.Backing != "" {
		t.Errorf("raw copy: %+v", info)
	}
	// Images are never shrunk.
	if _, err := diskSteps(t, Config{DiskSize: "32M"}); err == nil || !strings.Contains(err.Error(), "smaller than the source") {
		t.Errorf("shrink: %v", err)
	}
	// skip_resize_disk ignores disk_size.
	s, err = diskSteps(t, Config{DiskSize: "32M", SkipResizeDisk: true})
	if err != nil || readDiskInfo(t, s.disk).VirtualSize != 64<<20 {
		t.Errorf("skip_resize_disk: %v", err)
	}
}

func TestArtifactDestroy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	image := filepath.Join(dir, "web.qcow2")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(image, []byte("x"), 0o644)
	var a artifact.Destroyer = &Artifact{dir: dir, image: image, files: []string{image}}
	if err := a.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("output directory still there: %v", err)
	}
}

package qemu

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/family"
)

var (
	_ family.Builder = (*Builder)(nil)
	_ family.Tester  = (*Builder)(nil)
)

// familyDefaults names a family image when the template does not:
// vm_name FAMILY-VERSION.FORMAT and output_directory output-FAMILY/FAMILY-VERSION,
// so that every version of a family shares the output root output-FAMILY.
func (c *Config) familyDefaults(name, version string) {
	base := family.DefaultName(name, cmp.Or(version, family.PlaceholderVersion))
	if c.VMName == "" {
		c.VMName = base + "." + c.format() // the version's dots are no extension
	}
	if c.OutputDirectory == "" {
		c.OutputDirectory = filepath.Join("output-"+name, base)
	}
}

// FamilyCatalog returns the local catalog in the parent of
// output_directory.
func (b *Builder) FamilyCatalog(context.Context) (family.Catalog, error) {
	out, err := filepath.Abs(b.cfg.OutputDirectory)
	if err != nil {
		return nil, fmt.Errorf("qemu: output directory: %w", err)
	}
	return &family.Local{Root: filepath.Dir(out)}, nil
}

// contentConfig is what of the configuration decides an image's content.
type contentConfig struct {
	DiskImage      bool              `json:"disk_image,omitempty"`
	Format         string            `json:"format"`
	DiskSize       string            `json:"disk_size,omitempty"`
	SkipResizeDisk bool              `json:"skip_resize_disk,omitempty"`
	DiskInterface  string            `json:"disk_interface,omitempty"`
	Firmware       string            `json:"firmware,omitempty"`
	EFIBoot        bool              `json:"efi_boot,omitempty"`
	Kernel         string            `json:"kernel,omitempty"` // sha256 of the file
	Initrd         string            `json:"initrd,omitempty"` // sha256 of the file
	KernelArgs     string            `json:"kernel_args,omitempty"`
	CDContent      map[string]string `json:"cd_content,omitempty"`
	CDFiles        []string          `json:"cd_files,omitempty"`
	SSHUsername    string            `json:"ssh_username,omitempty"`
}

// FamilySource returns the content configuration as JSON and identifies
// the source image by its iso_checksum, or else by the sha256 of the
// local file (a remote image without a checksum by its URL).
func (b *Builder) FamilySource(context.Context) ([]byte, string, error) {
	c := b.cfg
	cc := contentConfig{
		DiskImage: c.DiskImage, Format: c.format(), DiskSize: c.DiskSize, SkipResizeDisk: c.SkipResizeDisk,
		DiskInterface: c.DiskInterface, Firmware: c.Firmware, EFIBoot: c.EFIBoot, KernelArgs: c.KernelArgs,
		CDContent: c.CDContent, CDFiles: c.CDFiles, SSHUsername: c.username(),
	}
	for _, f := range []struct {
		path string
		dst  *string
	}{{c.Kernel, &cc.Kernel}, {c.Initrd, &cc.Initrd}} {
		if f.path == "" {
			continue
		}
		sum, err := fileDigest(f.path, "sha256")
		if err != nil {
			return nil, "", fmt.Errorf("qemu: inputs: %w", err)
		}
		*f.dst = "sha256:" + sum
	}
	cfg, err := json.Marshal(cc)
	if err != nil {
		return nil, "", err
	}
	urls := c.urls()
	if len(urls) == 0 {
		return nil, "", fmt.Errorf("qemu: inputs: no iso_url")
	}
	if sum := c.ISOChecksum; sum != "" && sum != "none" && !strings.HasPrefix(sum, "file:") {
		return cfg, sum, nil
	}
	remote, local, err := splitLocation(urls[0])
	if err != nil {
		return nil, "", fmt.Errorf("qemu: inputs: %w", err)
	}
	if remote != nil {
		return cfg, urls[0], nil
	}
	sum, err := fileDigest(local, "sha256")
	if err != nil {
		return nil, "", fmt.Errorf("qemu: inputs: source image: %w", err)
	}
	return cfg, "sha256:" + sum, nil
}

// ImageName returns vm_name without the format's extension.
func (b *Builder) ImageName() string {
	return strings.TrimSuffix(b.cfg.imageName(""), "."+b.cfg.format())
}

// SetLineage makes Run write the sidecar (kiln-image.json) beside the image.
func (b *Builder) SetLineage(tags map[string]string) { b.lineage = maps.Clone(tags) }

// writeSidecar records the lineage of a finished image.
func (b *Builder) writeSidecar(a *Artifact) error {
	files := []string{filepath.Base(a.image)}
	for _, f := range a.files {
		if f != a.image {
			files = append(files, filepath.Base(f))
		}
	}
	built, _ := time.Parse(time.RFC3339, b.lineage[family.TagBuiltAt])
	err := family.WriteSidecar(a.dir, family.Sidecar{
		Family: b.lineage[family.TagFamily], Version: b.lineage[family.TagVersion],
		Name: b.ImageName(), Created: cmp.Or(built, time.Now().UTC()), Files: files, Tags: b.lineage,
	})
	if err != nil {
		return fmt.Errorf("qemu: write lineage: %w", err)
	}
	a.files = append(a.files, filepath.Join(a.dir, family.SidecarName))
	return nil
}

// FamilyArtifact returns the Artifact of an image in the local catalog.
func (b *Builder) FamilyArtifact(img family.Image) artifact.Artifact {
	image := img.IDs[family.LocalRegion]
	dir := filepath.Dir(image)
	a := &Artifact{dir: dir, image: image, files: []string{image}}
	if _, err := os.Stat(image + ".sha256"); err == nil {
		a.files = append(a.files, image+".sha256")
	}
	a.files = append(a.files, filepath.Join(dir, family.SidecarName))
	return a
}

// TestImage boots a VM on an overlay of img (the image itself is not
// changed), calls hook over SSH, shuts the VM down and removes the overlay.
func (b *Builder) TestImage(ctx context.Context, env *builder.Env, img family.Image, hook builder.Hook) error {
	image := img.IDs[family.LocalRegion]
	tmp, err := os.MkdirTemp(b.tmpRoot, "kiln-qemu-test-")
	if err != nil {
		return fmt.Errorf("qemu: test: %w", err)
	}
	defer os.RemoveAll(tmp)
	t := *b
	t.lineage = nil
	t.cfg.ISOURL, t.cfg.ISOURLs, t.cfg.ISOChecksum = image, nil, "none"
	t.cfg.DiskImage, t.cfg.UseBackingFile, t.cfg.SkipCompaction = true, true, true
	t.cfg.DiskSize = ""
	t.cfg.CDFiles, t.cfg.CDContent = nil, nil // the image is provisioned already
	t.cfg.OutputDirectory = filepath.Join(tmp, "out")
	t.warnings = nil
	_, err = t.Run(ctx, env, hook)
	return err
}

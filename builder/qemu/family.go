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

// familyNaming are the attributes that name a family's image and may
// refer to family.version.
var familyNaming = []string{"vm_name", "output_directory"}

// FamilyCatalog returns the local catalog in the parent of the output
// directory: output-FAMILY unless output_directory says otherwise.
func (b *Builder) FamilyCatalog(_ context.Context, fam string) (family.Catalog, error) {
	v := family.PlaceholderVersion
	name, err := b.ImageName(fam, v)
	if err != nil {
		return nil, err
	}
	dir, err := b.familyOutputDir(fam, v, name)
	if err != nil {
		return nil, err
	}
	out, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("qemu: output directory: %w", err)
	}
	return &family.Local{Root: filepath.Dir(out)}, nil
}

// ImageName returns vm_name evaluated for fam's version without the
// format's extension, or FAMILY-VERSION when vm_name is not set. Run
// writes the image as NAME.FORMAT.
func (b *Builder) ImageName(fam, version string) (string, error) {
	vm, err := b.names.Value("vm_name", fam, version, family.DefaultName(fam, version))
	if err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	return strings.TrimSuffix(vm, "."+b.cfg.format()), nil
}

// familyOutputDir returns the output directory of fam's version, named
// name: output_directory evaluated for the version, or output-FAMILY/NAME,
// so that every version of a family shares the output root.
func (b *Builder) familyOutputDir(fam, version, name string) (string, error) {
	dir, err := b.names.Value("output_directory", fam, version, filepath.Join("output-"+fam, name))
	if err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	return dir, nil
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

// writeSidecar records the lineage of a finished image.
func writeSidecar(a *Artifact, img *builder.Image) error {
	files := []string{filepath.Base(a.image)}
	for _, f := range a.files {
		if f != a.image {
			files = append(files, filepath.Base(f))
		}
	}
	built, _ := time.Parse(time.RFC3339, img.Tags[family.TagBuiltAt])
	err := family.WriteSidecar(a.dir, family.Sidecar{
		Family: img.Family, Version: img.Version,
		Name: img.Name, Created: cmp.Or(built, time.Now().UTC()), Files: files, Tags: maps.Clone(img.Tags),
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
	t.cfg.ISOURL, t.cfg.ISOURLs, t.cfg.ISOChecksum = image, nil, "none"
	t.cfg.DiskImage, t.cfg.UseBackingFile, t.cfg.SkipCompaction = true, true, true
	t.cfg.DiskSize = ""
	t.cfg.CDFiles, t.cfg.CDContent = nil, nil // the image is provisioned already
	t.cfg.OutputDirectory = filepath.Join(tmp, "out")
	t.warnings = nil
	_, err = t.Run(ctx, env, hook)
	return err
}

package family

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Lineage tag keys (see the package documentation).
const (
	TagFamily      = "kiln:family"
	TagVersion     = "kiln:version"
	TagInputs      = "kiln:inputs"
	TagSourceImage = "kiln:source-image"
	TagGitCommit   = "kiln:git-commit"
	TagGitDirty    = "kiln:git-dirty"
	TagBuiltAt     = "kiln:built-at"
	TagKilnVersion = "kiln:kiln-version"
	TagStatus      = "kiln:status"
)

// Status values of kiln:status.
const (
	StatusBuilt      = "built"
	StatusTested     = "tested"
	StatusFailedTest = "failed-test"
)

// Image is one version of a family in a catalog.
type Image struct {
	Family  string
	Version string
	// Name is the image's name (the AMI name, or the qcow2 file's base name).
	Name    string
	Status  string
	Inputs  string
	Created time.Time
	// IDs maps each region (for a local catalog, "local") to the image's ID
	// there (an AMI ID, or the path of the qcow2 file).
	IDs map[string]string
	// Snapshots maps each region to the image's snapshot IDs there.
	Snapshots map[string][]string
	// Tags are the image's tags in its first region.
	Tags map[string]string
}

// Move is one entry of a channel's history: the channel was pointed at
// Version (ID in Region) at Time.
type Move struct {
	Version string    `json:"version"`
	Region  string    `json:"region"`
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
}

// Catalog holds the images of families and their channels. The AWS catalog
// (package family/awscatalog) keeps them as tagged EC2 images and SSM
// parameters; Local as files in an output root.
type Catalog interface {
	// Images returns family's versions, oldest first by semver.
	Images(ctx context.Context, family string) ([]Image, error)
	// Channels returns the version each of family's channels points at.
	Channels(ctx context.Context, family string) (map[string]string, error)
	// Point points channel at img in every region img exists in.
	Point(ctx context.Context, img Image, channel string) error
	// History returns channel's moves, oldest first.
	History(ctx context.Context, family, channel string) ([]Move, error)
	// SetStatus sets img's kiln:status (on its snapshots too).
	SetStatus(ctx context.Context, img Image, status string) error
	// Delete removes img in every region, with its snapshots or files.
	Delete(ctx context.Context, img Image) error
	// InUse returns the versions of family that something runs or would
	// launch (a running instance, a launch template's default version),
	// each with the reason.
	InUse(ctx context.Context, family string) (map[string]string, error)
}

// ErrNotFound is returned when a family, version or channel does not exist.
var ErrNotFound = errors.New("not found")

// ErrNameTaken is wrapped by a builder's error when another build took the
// image's name first: the build engine then builds the next version.
var ErrNameTaken = errors.New("image name taken")

// Find returns family's image of version.
func Find(ctx context.Context, c Catalog, family, version string) (Image, error) {
	imgs, err := c.Images(ctx, family)
	if err != nil {
		return Image{}, err
	}
	for _, img := range imgs {
		if img.Version == version {
			return img, nil
		}
	}
	return Image{}, fmt.Errorf("family %s has no version %s: %w", family, version, ErrNotFound)
}

// Promote points channel at family's version. A version whose test failed is
// refused.
func Promote(ctx context.Context, c Catalog, family, version, channel string) (Image, error) {
	if err := CheckChannel(channel); err != nil {
		return Image{}, err
	}
	img, err := Find(ctx, c, family, version)
	if err != nil {
		return Image{}, err
	}
	if img.Status == StatusFailedTest {
		return Image{}, fmt.Errorf("promote %s %s: its test failed; it is never promoted", family, version)
	}
	if err := c.Point(ctx, img, channel); err != nil {
		return Image{}, fmt.Errorf("promote %s %s to %s: %w", family, version, channel, err)
	}
	return img, nil
}

// Rollback points channel back at the version it pointed at before its
// current one: the newest move in its history whose version differs from
// the current version. It returns the image it points at now.
func Rollback(ctx context.Context, c Catalog, family, channel string) (Image, error) {
	hist, err := c.History(ctx, family, channel)
	if err != nil {
		return Image{}, err
	}
	if len(hist) == 0 {
		return Image{}, fmt.Errorf("roll back %s channel %s: %w", family, channel, ErrNotFound)
	}
	current := hist[len(hist)-1].Version
	for i := len(hist) - 2; i >= 0; i-- {
		if v := hist[i].Version; v != current && v != "" {
			img, err := Find(ctx, c, family, v)
			if err != nil {
				return Image{}, fmt.Errorf("roll back %s channel %s to %s: %w", family, channel, v, err)
			}
			if err := c.Point(ctx, img, channel); err != nil {
				return Image{}, fmt.Errorf("roll back %s channel %s to %s: %w", family, channel, v, err)
			}
			return img, nil
		}
	}
	return Image{}, fmt.Errorf("roll back %s channel %s: it never pointed at a version other than %s", family, channel, current)
}

// CheckChannel reports whether name is a valid channel name: letters,
// digits, '.', '-' and '_'.
func CheckChannel(name string) error {
	if name == "" {
		return errors.New("channel name is empty")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("channel name %q: only letters, digits, '.', '-' and '_' are allowed", name)
		}
	}
	return nil
}

// SortImages sorts images by version, oldest first; images whose version is
// not semver come first, by name.
func SortImages(imgs []Image) {
	slices.SortStableFunc(imgs, func(a, b Image) int {
		va, ea := semver.StrictNewVersion(a.Version)
		vb, eb := semver.StrictNewVersion(b.Version)
		switch {
		case ea != nil && eb != nil:
			return cmpString(a.Name, b.Name)
		case ea != nil:
			return -1
		case eb != nil:
			return 1
		}
		return va.Compare(vb)
	})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

package family

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// SidecarName is the file beside a local image that holds its lineage.
const SidecarName = "kiln-image.json"

// Sidecar is the JSON of a local image's sidecar file.
type Sidecar struct {
	Family  string    `json:"family"`
	Version string    `json:"version"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Files are the image's files, relative to the sidecar's directory;
	// the first is the disk image.
	Files []string          `json:"files"`
	Tags  map[string]string `json:"tags"`
}

// WriteSidecar writes the sidecar of an image whose files are in dir.
func WriteSidecar(dir string, sc Sidecar) error {
	b, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, SidecarName), append(b, '\n'))
}

// Local is a family.Catalog in an output root directory: each version is
// a directory below it holding the image's files and its sidecar
// (kiln-image.json); each family's channels are an index file
// FAMILY.channels.json in the root, with every move.
type Local struct {
	Root string
}

var _ Catalog = (*Local)(nil)

// LocalRegion is the region name of local images in Image.IDs.
const LocalRegion = "local"

// channelIndex is the JSON of FAMILY.channels.json.
type channelIndex struct {
	Channels map[string][]Move `json:"channels"`
}

// Images reads the sidecars of the root's subdirectories.
func (l *Local) Images(_ context.Context, family string) ([]Image, error) {
	paths, err := filepath.Glob(filepath.Join(l.Root, "*", SidecarName))
	if err != nil {
		return nil, err
	}
	var imgs []Image
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		var sc Sidecar
		if err := json.Unmarshal(b, &sc); err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		if sc.Family != family || len(sc.Files) == 0 {
			continue
		}
		dir := filepath.Dir(p)
		imgs = append(imgs, Image{
			Family: sc.Family, Version: sc.Version, Name: sc.Name, Created: sc.Created,
			Status: sc.Tags[TagStatus], Inputs: sc.Tags[TagInputs], Tags: sc.Tags,
			IDs: map[string]string{LocalRegion: filepath.Join(dir, sc.Files[0])},
		})
	}
	SortImages(imgs)
	return imgs, nil
}

func (l *Local) indexPath(family string) string {
	return filepath.Join(l.Root, family+".channels.json")
}

func (l *Local) readIndex(family string) (channelIndex, error) {
	idx := channelIndex{Channels: map[string][]Move{}}
	b, err := os.ReadFile(l.indexPath(family))
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return idx, err
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("read %s: %w", l.indexPath(family), err)
	}
	if idx.Channels == nil {
		idx.Channels = map[string][]Move{}
	}
	return idx, nil
}

// Channels returns the last move of each channel.
func (l *Local) Channels(_ context.Context, family string) (map[string]string, error) {
	idx, err := l.readIndex(family)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for ch, moves := range idx.Channels {
		if len(moves) > 0 {
			out[ch] = moves[len(moves)-1].Version
		}
	}
	return out, nil
}

// Point appends a move to the channel's history in the index, under a lock.
func (l *Local) Point(_ context.Context, img Image, channel string) error {
	if err := CheckChannel(channel); err != nil {
		return err
	}
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := l.readIndex(img.Family)
	if err != nil {
		return err
	}
	idx.Channels[channel] = append(idx.Channels[channel], Move{
		Version: img.Version, Region: LocalRegion, ID: img.IDs[LocalRegion], Time: time.Now().UTC(),
	})
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(l.indexPath(img.Family), append(b, '\n'))
}

// History returns the channel's moves from the index.
func (l *Local) History(_ context.Context, family, channel string) ([]Move, error) {
	idx, err := l.readIndex(family)
	if err != nil {
		return nil, err
	}
	moves, ok := idx.Channels[channel]
	if !ok {
		return nil, fmt.Errorf("channel %s of family %s: %w", channel, family, ErrNotFound)
	}
	return moves, nil
}

// SetStatus rewrites the image's sidecar.
func (l *Local) SetStatus(_ context.Context, img Image, status string) error {
	dir := filepath.Dir(img.IDs[LocalRegion])
	b, err := os.ReadFile(filepath.Join(dir, SidecarName))
	if err != nil {
		return fmt.Errorf("set status of %s %s: %w", img.Family, img.Version, err)
	}
	var sc Sidecar
	if err := json.Unmarshal(b, &sc); err != nil {
		return fmt.Errorf("set status of %s %s: %w", img.Family, img.Version, err)
	}
	if sc.Tags == nil {
		sc.Tags = map[string]string{}
	}
	sc.Tags[TagStatus] = status
	return WriteSidecar(dir, sc)
}

// Delete removes the image's files and sidecar, then its directory if it
// is empty.
func (l *Local) Delete(_ context.Context, img Image) error {
	dir := filepath.Dir(img.IDs[LocalRegion])
	b, err := os.ReadFile(filepath.Join(dir, SidecarName))
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", img.Family, img.Version, err)
	}
	var sc Sidecar
	if err := json.Unmarshal(b, &sc); err != nil {
		return fmt.Errorf("delete %s %s: %w", img.Family, img.Version, err)
	}
	for _, f := range sc.Files {
		if strings.Contains(f, "..") || filepath.IsAbs(f) {
			return fmt.Errorf("delete %s %s: sidecar names a file outside its directory: %q", img.Family, img.Version, f)
		}
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s %s: %w", img.Family, img.Version, err)
		}
	}
	if err := os.Remove(filepath.Join(dir, SidecarName)); err != nil {
		return fmt.Errorf("delete %s %s: %w", img.Family, img.Version, err)
	}
	os.Remove(dir) // only when empty
	return nil
}

// InUse finds the family's images that a running process (a qemu VM) has
// on its command line, reading /proc.
func (l *Local) InUse(ctx context.Context, family string) (map[string]string, error) {
	imgs, err := l.Images(ctx, family)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for _, img := range imgs {
			file := img.IDs[LocalRegion]
			abs, _ := filepath.Abs(file)
			if slices.ContainsFunc(args, func(a string) bool {
				return strings.Contains(a, file) || (abs != "" && strings.Contains(a, abs))
			}) {
				out[img.Version] = "process " + filepath.Base(filepath.Dir(p))
			}
		}
	}
	return out, nil
}

// lock takes the root's lock file.
func (l *Local) lock() (func(), error) {
	if err := os.MkdirAll(l.Root, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(l.Root, ".kiln-lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", l.Root, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// writeAtomic writes data to path through a temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

package family

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Digest computes an inputs digest, record by record, as the package
// documentation describes.
type Digest struct {
	h hash.Hash
}

// NewDigest starts a digest with kiln's major version.
func NewDigest(kilnMajor string) *Digest {
	d := &Digest{h: sha256.New()}
	d.Add("kiln-major", "", []byte(kilnMajor))
	return d
}

// Add writes one record.
func (d *Digest) Add(kind, name string, data []byte) {
	fmt.Fprintf(d.h, "%s\x00%s\x00%s\x00", kind, name, strconv.Itoa(len(data)))
	d.h.Write(data)
}

// AddPath writes a "file" record for the file at path (name is the path as
// written), or one per regular file below it when it is a directory, in
// lexical order.
func (d *Digest) AddPath(name, path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("inputs digest: %w", err)
	}
	if !info.IsDir() {
		return d.addFile(name, path)
	}
	return filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("inputs digest: %w", err)
		}
		if !e.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(path, p)
		if err != nil {
			return err
		}
		return d.addFile(filepath.ToSlash(filepath.Join(name, rel)), p)
	})
}

func (d *Digest) addFile(name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("inputs digest: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("inputs digest: %w", err)
	}
	fmt.Fprintf(d.h, "file\x00%s\x00%d\x00", name, info.Size())
	n, err := io.Copy(d.h, f)
	if err != nil {
		return fmt.Errorf("inputs digest: read %s: %w", path, err)
	}
	if n != info.Size() {
		return fmt.Errorf("inputs digest: %s changed while it was read", path)
	}
	return nil
}

// Sum returns "sha256:" and the hex digest.
func (d *Digest) Sum() string { return "sha256:" + hex.EncodeToString(d.h.Sum(nil)) }

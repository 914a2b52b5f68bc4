package qemu

import (
	"bufio"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"
)

// checksum is a parsed iso_checksum.
type checksum struct {
	// kind is md5, sha1, sha256 or sha512; "" with none set means no
	// verification.
	kind string
	// want is the expected digest in lower-case hex; empty when it comes
	// from a checksum file not read yet.
	want string
	// file is the path or URL of a checksum list ("file:" form).
	file string
	none bool
}

var digestLen = map[string]int{"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}

// parseChecksum parses Packer's iso_checksum forms: "none", "file:WHERE",
// "TYPE:HEX" and a bare hex digest whose length gives its type.
func parseChecksum(s string) (checksum, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "none":
		return checksum{none: true}, nil
	case strings.HasPrefix(s, "file:"):
		where := strings.TrimPrefix(s, "file:")
		if where == "" {
			return checksum{}, fmt.Errorf("%q names no checksum file", s)
		}
		return checksum{file: where}, nil
	}
	kind, digest, typed := strings.Cut(s, ":")
	if !typed {
		digest = kind
		kind = ""
		for k, n := range digestLen {
			if len(digest) == n {
				kind = k
			}
		}
		if kind == "" {
			return checksum{}, fmt.Errorf("%q is not a checksum: write \"sha256:HEX\", \"file:PATH_OR_URL\" or \"none\"", s)
		}
	}
	kind = strings.ToLower(kind)
	n, ok := digestLen[kind]
	if !ok {
		return checksum{}, fmt.Errorf("checksum type %q is not supported: use md5, sha1, sha256 or sha512", kind)
	}
	if _, err := hex.DecodeString(digest); err != nil || len(digest) != n {
		return checksum{}, fmt.Errorf("%q is not a %s digest (%d hex digits)", digest, kind, n)
	}
	return checksum{kind: kind, want: strings.ToLower(digest)}, nil
}

func newHash(kind string) hash.Hash {
	switch kind {
	case "md5":
		return md5.New()
	case "sha1":
		return sha1.New()
	case "sha512":
		return sha512.New()
	}
	return sha256.New()
}

// fileDigest returns the hex digest of the file at p.
func fileDigest(p, kind string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := newHash(kind)
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// verify checks the file at p against c.
func (c checksum) verify(p string) error {
	if c.none {
		return nil
	}
	got, err := fileDigest(p, c.kind)
	if err != nil {
		return err
	}
	if got != c.want {
		return fmt.Errorf("%s checksum mismatch for %s: got %s, want %s", c.kind, p, got, c.want)
	}
	return nil
}

// fromList finds the digest of the file named name in a checksum list, in
// GNU ("HEX  name", "HEX *name") or BSD ("SHA256 (name) = HEX") format. A
// list with a single bare digest applies to any name.
func fromList(r io.Reader, name string) (checksum, error) {
	sc := bufio.NewScanner(r)
	var only []string
	lines := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		lines++
		if head, digest, ok := strings.Cut(line, ") = "); ok {
			kind, file, ok := strings.Cut(head, " (")
			if ok && path.Base(file) == name {
				return parseChecksum(strings.ToLower(kind) + ":" + digest)
			}
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 1 {
			only = fields
			continue
		}
		if len(fields) == 2 && path.Base(strings.TrimPrefix(fields[1], "*")) == name {
			return parseChecksum(fields[0])
		}
	}
	if err := sc.Err(); err != nil {
		return checksum{}, err
	}
	if lines == 1 && only != nil {
		return parseChecksum(only[0])
	}
	return checksum{}, fmt.Errorf("the checksum list has no entry for %s", name)
}

package qemu

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	gossh "golang.org/x/crypto/ssh"
)

// buildKeys are the keys kiln makes for one build: a login key whose public
// half the guest authorizes, and the guest's host key, which the client then
// verifies strictly. Neither outlives the build.
type buildKeys struct {
	login    gossh.Signer
	loginPub string // authorized_keys line
	loginPEM string // OpenSSH private key
	host     gossh.Signer
	hostPEM  string // OpenSSH private key
	hostPub  string // authorized_keys line
}

func generateKeys(comment string) (*buildKeys, error) {
	k := &buildKeys{}
	for _, which := range []string{"login", "host"} {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate %s key: %w", which, err)
		}
		signer, err := gossh.NewSignerFromKey(priv)
		if err != nil {
			return nil, fmt.Errorf("generate %s key: %w", which, err)
		}
		pub := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " " + comment
		block, err := gossh.MarshalPrivateKey(priv, comment)
		if err != nil {
			return nil, fmt.Errorf("encode %s key: %w", which, err)
		}
		privPEM := string(pem.EncodeToMemory(block))
		if which == "login" {
			k.login, k.loginPub, k.loginPEM = signer, pub, privPEM
		} else {
			k.host, k.hostPub, k.hostPEM = signer, pub, privPEM
		}
	}
	return k, nil
}

// seedSpec is what kiln puts in a NoCloud seed for one build.
type seedSpec struct {
	// user logs in with authorizedKey ("" when the template brings its own
	// credentials).
	user          string
	authorizedKey string
	hostPEM       string
	hostPub       string
	instanceID    string
}

// userData returns kiln's #cloud-config. It is JSON, which YAML reads as
// is, so every value is quoted correctly. Its merge_how lets it go after a
// user's cloud-config in one multipart user-data: lists are appended to and
// keys the user set are kept.
func (s seedSpec) userData() []byte {
	cfg := map[string]any{
		"ssh_pwauth": false,
		"ssh_keys": map[string]string{
			"ed25519_private": s.hostPEM,
			"ed25519_public":  s.hostPub,
		},
		// The host key comes from above; generate no others.
		"ssh_genkeytypes": []string{"ed25519"},
		"merge_how": []map[string]any{
			{"name": "list", "settings": []string{"append"}},
			{"name": "dict", "settings": []string{"no_replace", "recurse_list"}},
		},
	}
	if s.authorizedKey != "" {
		if s.user == "root" {
			cfg["disable_root"] = false
			cfg["ssh_authorized_keys"] = []string{s.authorizedKey}
		} else {
			cfg["users"] = []map[string]any{{
				"name":                s.user,
				"shell":               "/bin/bash",
				"sudo":                "ALL=(ALL) NOPASSWD:ALL",
				"lock_passwd":         true,
				"ssh_authorized_keys": []string{s.authorizedKey},
			}}
		}
	}
	b, _ := json.MarshalIndent(cfg, "", "  ") // maps of strings always encode
	return append([]byte("#cloud-config\n"), append(b, '\n')...)
}

func (s seedSpec) metaData() []byte {
	return []byte("instance-id: " + s.instanceID + "\n")
}

// mergeUserData puts the user's user-data and kiln's cloud-config into one
// MIME multipart document, which cloud-init processes part by part, merging
// cloud-config parts. The user's part keeps its type: cloud-config, a shell
// script, a boothook, or a MIME document of its own.
func mergeUserData(user, ours []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fmt.Fprintf(&buf, "Content-Type: multipart/mixed; boundary=%q\nMIME-Version: 1.0\n\n", w.Boundary())
	head, body, err := userPart(user)
	if err != nil {
		return nil, err
	}
	for _, p := range []struct {
		head textproto.MIMEHeader
		body []byte
	}{{head, body}, {partHeader("text/cloud-config", "kiln.cfg"), ours}} {
		pw, err := w.CreatePart(p.head)
		if err != nil {
			return nil, err
		}
		if _, err := pw.Write(p.body); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func partHeader(contentType, name string) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", contentType+`; charset="utf-8"`)
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	return h
}

// userPart returns the header and body of the user's user-data as a part.
func userPart(data []byte) (textproto.MIMEHeader, []byte, error) {
	if bytes.HasPrefix(bytes.ToLower(data), []byte("content-type:")) {
		r := textproto.NewReader(bufio.NewReader(bytes.NewReader(data)))
		h, err := r.ReadMIMEHeader()
		if err != nil {
			return nil, nil, fmt.Errorf("read user-data's MIME header: %w", err)
		}
		body, err := io.ReadAll(r.R)
		if err != nil {
			return nil, nil, err
		}
		return h, body, nil
	}
	types := []struct{ prefix, ctype string }{
		{"#cloud-config", "text/cloud-config"},
		{"#!", "text/x-shellscript"},
		{"#cloud-boothook", "text/cloud-boothook"},
		{"#include", "text/x-include-url"},
		{"## template: jinja", "text/jinja2"},
		{"#part-handler", "text/part-handler"},
	}
	for _, t := range types {
		if bytes.HasPrefix(data, []byte(t.prefix)) {
			return partHeader(t.ctype, "user-data"), data, nil
		}
	}
	return nil, nil, fmt.Errorf("user-data starts with neither \"#cloud-config\", \"#!\" nor another type cloud-init knows, so it cannot be merged with kiln's seed")
}

// cdImage is one ISO to make: a directory and its volume label.
type cdImage struct {
	dir, label, iso string
}

// layoutCDs writes the CD trees under dir: the user's cd_files and
// cd_content with kiln's seed merged in when the label is cidata, or the
// seed on a second CD labelled cidata otherwise. It returns the CDs to make.
// What it writes is private to the user (the seed holds the build's host
// private key, cd_content may hold secrets); the ISOs are made with
// rationalised Rock Ridge modes, readable in the guest.
func layoutCDs(dir string, cfg *Config, seed *seedSpec) ([]cdImage, error) {
	userDir := filepath.Join(dir, "cd")
	if err := os.MkdirAll(userDir, 0o700); err != nil {
		return nil, err
	}
	for _, pattern := range cfg.CDFiles {
		if err := copyCDFiles(userDir, pattern); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(cfg.CDContent))
	for name := range cfg.CDContent {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(userDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(cfg.CDContent[name]), 0o600); err != nil {
			return nil, fmt.Errorf("cd_content %s: %w", name, err)
		}
	}
	label := cfg.cdLabel()
	userCD := cdImage{dir: userDir, label: label, iso: filepath.Join(dir, "cd.iso")}
	hasUserFiles := len(cfg.CDFiles) > 0 || len(cfg.CDContent) > 0
	if seed == nil {
		if !hasUserFiles {
			return nil, nil
		}
		return []cdImage{userCD}, nil
	}
	if strings.EqualFold(label, "cidata") {
		if err := writeSeed(userDir, seed); err != nil {
			return nil, err
		}
		return []cdImage{userCD}, nil
	}
	seedDir := filepath.Join(dir, "seed")
	if err := os.MkdirAll(seedDir, 0o700); err != nil {
		return nil, err
	}
	if err := writeSeed(seedDir, seed); err != nil {
		return nil, err
	}
	seedCD := cdImage{dir: seedDir, label: "cidata", iso: filepath.Join(dir, "seed.iso")}
	if !hasUserFiles {
		return []cdImage{seedCD}, nil
	}
	return []cdImage{userCD, seedCD}, nil
}

// writeSeed adds kiln's user-data and meta-data to dir, merging with a
// user-data already there and keeping a meta-data already there.
func writeSeed(dir string, seed *seedSpec) error {
	ud := seed.userData()
	udPath := filepath.Join(dir, "user-data")
	if existing, err := os.ReadFile(udPath); err == nil {
		if ud, err = mergeUserData(existing, ud); err != nil {
			return fmt.Errorf("merge user-data: %w", err)
		}
	}
	if err := os.WriteFile(udPath, ud, 0o600); err != nil {
		return err
	}
	mdPath := filepath.Join(dir, "meta-data")
	if _, err := os.Stat(mdPath); err == nil {
		return nil
	}
	return os.WriteFile(mdPath, seed.metaData(), 0o600)
}

// copyCDFiles copies what pattern matches into root. A file lands at the
// root by its base name; a directory is copied as a directory of that name,
// or its contents are copied into the root when pattern ends in a slash.
// Symlinks are followed.
func copyCDFiles(root, pattern string) error {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return fmt.Errorf("cd_files %q: %w", pattern, err)
	}
	if len(matches) == 0 {
		return fmt.Errorf("cd_files %q matches no file", pattern)
	}
	for _, m := range matches {
		st, err := os.Stat(m)
		if err != nil {
			return fmt.Errorf("cd_files: %w", err)
		}
		dst := filepath.Join(root, filepath.Base(m))
		if st.IsDir() && strings.HasSuffix(pattern, "/") {
			dst = root
		}
		if err := copyTree(m, dst); err != nil {
			return fmt.Errorf("cd_files: %w", err)
		}
	}
	return nil
}

func copyTree(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, st.Mode().Perm())
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := copyTree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// makeISO writes cd as an ISO 9660 image with Joliet and Rock Ridge, as
// cloud-init's NoCloud expects.
func makeISO(ctx context.Context, cd cdImage) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "xorriso", "-as", "mkisofs", "-quiet", "-V", cd.label, "-J", "-r", "-o", cd.iso, cd.dir)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("make CD %s: xorriso is not installed (apt-get install xorriso)", cd.label)
		}
		return fmt.Errorf("make CD %s: %v: %s", cd.label, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

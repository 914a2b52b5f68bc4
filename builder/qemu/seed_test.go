package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/kilnhq/kiln/internal/testenv"
)

// readISO extracts an ISO with xorriso and returns its volume label and
// its files by path.
func readISO(t *testing.T, iso string) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("extract %s: %v\n%s", iso, err, out)
	}
	files := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			files[filepath.ToSlash(rel)] = string(data)
		}
		return nil
	})
	pvd, err := exec.Command("xorriso", "-indev", iso, "-pvd_info").CombinedOutput()
	if err != nil {
		t.Fatalf("pvd_info: %v\n%s", err, pvd)
	}
	var label string
	for _, line := range strings.Split(string(pvd), "\n") {
		if v, ok := strings.CutPrefix(line, "Volume Id    :"); ok {
			label = strings.TrimSpace(v)
		}
	}
	return label, files
}

func testSeed(t *testing.T) (*buildKeys, *seedSpec) {
	t.Helper()
	keys, err := generateKeys("kiln-test")
	if err != nil {
		t.Fatal(err)
	}
	return keys, &seedSpec{user: "root", authorizedKey: keys.loginPub, hostPEM: keys.hostPEM, hostPub: keys.hostPub, instanceID: "kiln-t1"}
}

// cloudConfig decodes kiln's #cloud-config (JSON after the header line).
func cloudConfig(t *testing.T, data string) map[string]any {
	t.Helper()
	body, ok := strings.CutPrefix(data, "#cloud-config\n")
	if !ok {
		t.Fatalf("not a cloud-config: %q", data)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatalf("cloud-config: %v\n%s", err, body)
	}
	return cfg
}

func TestSeedISO(t *testing.T) {
	testenv.Tool(t, "xorriso")
	keys, seed := testSeed(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("A"), 0o644)
	os.MkdirAll(filepath.Join(src, "tree/sub"), 0o755)
	os.WriteFile(filepath.Join(src, "tree/sub/b.txt"), []byte("B"), 0o644)
	os.Symlink(filepath.Join(src, "a.txt"), filepath.Join(src, "link.txt"))
	cfg := &Config{
		CDFiles:   []string{filepath.Join(src, "*.txt"), filepath.Join(src, "tree")},
		CDContent: map[string]string{"dir/c.txt": "C"},
	}
	work := t.TempDir()
	cds, err := layoutCDs(work, cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	if len(cds) != 1 {
		t.Fatalf("%d CDs, want one merged cidata CD", len(cds))
	}
	if err := makeISO(context.Background(), cds[0]); err != nil {
		t.Fatal(err)
	}
	label, files := readISO(t, cds[0].iso)
	if label != "cidata" {
		t.Errorf("label %q", label)
	}
	for name, want := range map[string]string{"a.txt": "A", "link.txt": "A", "tree/sub/b.txt": "B", "dir/c.txt": "C", "meta-data": "instance-id: kiln-t1\n"} {
		if files[name] != want {
			t.Errorf("%s = %q, want %q (files: %v)", name, files[name], want, keys)
		}
	}
	ud := cloudConfig(t, files["user-data"])
	if ud["disable_root"] != false || ud["ssh_pwauth"] != false {
		t.Errorf("user-data: %v", ud)
	}
	if ak, _ := ud["ssh_authorized_keys"].([]any); len(ak) != 1 || ak[0] != keys.loginPub {
		t.Errorf("ssh_authorized_keys = %v", ud["ssh_authorized_keys"])
	}
	hk, _ := ud["ssh_keys"].(map[string]any)
	priv, err := gossh.ParsePrivateKey([]byte(hk["ed25519_private"].(string)))
	if err != nil {
		t.Fatalf("host key in seed: %v", err)
	}
	if !bytes.Equal(priv.PublicKey().Marshal(), keys.host.PublicKey().Marshal()) || hk["ed25519_public"] != keys.hostPub {
		t.Error("the seed's host key is not the one the client will verify")
	}
	if gt, _ := ud["ssh_genkeytypes"].([]any); len(gt) != 1 || gt[0] != "ed25519" {
		t.Errorf("ssh_genkeytypes = %v", ud["ssh_genkeytypes"])
	}
}

// TestSeedNonRootUser checks that another login user is created with the key.
func TestSeedNonRootUser(t *testing.T) {
	_, seed := testSeed(t)
	seed.user = "builder"
	ud := cloudConfig(t, string(seed.userData()))
	users, _ := ud["users"].([]any)
	if len(users) != 1 {
		t.Fatalf("users = %v", ud["users"])
	}
	u := users[0].(map[string]any)
	if u["name"] != "builder" || u["sudo"] != "ALL=(ALL) NOPASSWD:ALL" || len(u["ssh_authorized_keys"].([]any)) != 1 {
		t.Errorf("user = %v", u)
	}
	if _, ok := ud["disable_root"]; ok {
		t.Error("disable_root changed for a non-root user")
	}
}

// TestSeedMergesUserData checks that a template's own user-data and
// meta-data survive: user-data becomes a multipart document with the
// user's part first, meta-data is the user's.
func TestSeedMergesUserData(t *testing.T) {
	testenv.Tool(t, "xorriso")
	_, seed := testSeed(t)
	for _, tt := range []struct{ userData, wantType string }{
		{"#cloud-config\npackages: [nginx]\n", "text/cloud-config"},
		{"#!/bin/sh\necho hi\n", "text/x-shellscript"},
	} {
		cfg := &Config{CDContent: map[string]string{"user-data": tt.userData, "meta-data": "instance-id: mine\n"}}
		cds, err := layoutCDs(t.TempDir(), cfg, seed)
		if err != nil {
			t.Fatal(err)
		}
		if err := makeISO(context.Background(), cds[0]); err != nil {
			t.Fatal(err)
		}
		_, files := readISO(t, cds[0].iso)
		if files["meta-data"] != "instance-id: mine\n" {
			t.Errorf("meta-data = %q", files["meta-data"])
		}
		msg, err := mail.ReadMessage(strings.NewReader(files["user-data"]))
		if err != nil {
			t.Fatalf("user-data is not MIME: %v\n%s", err, files["user-data"])
		}
		mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/mixed" {
			t.Fatalf("user-data type %q: %v", mt, err)
		}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		var types, bodies []string
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(p)
			ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			types, bodies = append(types, ct), append(bodies, string(body))
		}
		if len(types) != 2 || types[0] != tt.wantType || bodies[0] != tt.userData || types[1] != "text/cloud-config" {
			t.Errorf("parts %v:\n%v", types, bodies)
		}
		if ud := cloudConfig(t, bodies[1]); ud["merge_how"] == nil || ud["ssh_keys"] == nil {
			t.Errorf("kiln's part lacks merge_how or ssh_keys: %v", ud)
		}
	}
	// user-data cloud-init would not understand cannot be merged.
	cfg := &Config{CDContent: map[string]string{"user-data": "hello"}}
	if _, err := layoutCDs(t.TempDir(), cfg, seed); err == nil || !strings.Contains(err.Error(), "cannot be merged") {
		t.Errorf("unmergeable user-data: %v", err)
	}
}

// TestSeedOtherLabel checks that a CD with another label keeps the user's
// files only, and kiln's seed goes on a second CD labelled cidata.
func TestSeedOtherLabel(t *testing.T) {
	testenv.Tool(t, "xorriso")
	_, seed := testSeed(t)
	cfg := &Config{CDLabel: "config-2", CDContent: map[string]string{"x": "y"}}
	cds, err := layoutCDs(t.TempDir(), cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	if len(cds) != 2 {
		t.Fatalf("%d CDs", len(cds))
	}
	for i, want := range []string{"config-2", "cidata"} {
		if err := makeISO(context.Background(), cds[i]); err != nil {
			t.Fatal(err)
		}
		label, files := readISO(t, cds[i].iso)
		_, hasSeed := files["user-data"]
		if label != want || hasSeed != (i == 1) {
			t.Errorf("CD %d: label %q, files %v", i, label, files)
		}
	}
	// No communicator and no files: no CD at all.
	if cds, err := layoutCDs(t.TempDir(), &Config{}, nil); err != nil || len(cds) != 0 {
		t.Errorf("no seed, no files: %v, %v", cds, err)
	}
	if _, err := layoutCDs(t.TempDir(), &Config{CDFiles: []string{"/nonexistent/*.cfg"}}, nil); err == nil {
		t.Error("cd_files matching nothing accepted")
	}
}

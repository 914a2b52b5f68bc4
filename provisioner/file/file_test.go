package file

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/localcomm"
	"github.com/kilnhq/kiln/provisioner"
)

func testEnv(events event.Sink) *provisioner.Env {
	return &provisioner.Env{
		Info:   builder.Info{Name: "null.box", Type: "null", SourceName: "box"},
		Events: events,
		Source: `provisioner "file" (test.pkr.hcl:1)`,
		Data:   map[string]string{"Host": "127.0.0.1"},
	}
}

func provision(t *testing.T, comm communicator.Communicator, src string) *eventtest.Recorder {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "test.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, diags := New(f.Body, nil)
	if diags.HasErrors() {
		t.Fatalf("New: %v", diags)
	}
	rec := &eventtest.Recorder{}
	if err := p.Provision(context.Background(), testEnv(rec), comm); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return rec
}

// makeTree writes a tree of random files under dir and returns their
// SHA-256 sums by relative path.
func makeTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]int{"a.txt": 10, "empty": 0, "sub/b.bin": 300 << 10, "sub/deeper/c": 4097, "with space/d e": 5}
	for rel, size := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, size)
		rand.Read(data)
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	return sums(t, dir)
}

// sums returns the SHA-256 of every regular file under dir, and "dir" for
// every directory, by relative path.
func sums(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel != "." {
				out[rel] = "dir"
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(data)
		out[rel] = hex.EncodeToString(h[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d entries, want %d: %v", what, len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got[k], v)
		}
	}
}

// comms are the two ways a communicator can move trees.
var comms = map[string]func() communicator.Communicator{
	"file by file":  func() communicator.Communicator { return &localcomm.Comm{} },
	"DirTransferer": func() communicator.Communicator { return &localcomm.DirComm{} },
}

func TestUploadTreeTrailingSlash(t *testing.T) {
	for name, mk := range comms {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "tree")
			want := makeTree(t, src)

			remote := t.TempDir()
			provision(t, mk(), `
source = "`+src+`"
destination = "`+remote+`"
`)
			sameTree(t, "without slash", sums(t, filepath.Join(remote, "tree")), want)
			if entries, _ := os.ReadDir(remote); len(entries) != 1 {
				t.Errorf("without slash: destination holds %d entries, want only tree/", len(entries))
			}

			remote = t.TempDir()
			provision(t, mk(), `
source = "`+src+`/"
destination = "`+remote+`/inside"
`)
			sameTree(t, "with slash", sums(t, filepath.Join(remote, "inside")), want)
		})
	}
}

func TestDownloadTreeTrailingSlash(t *testing.T) {
	for name, mk := range comms {
		t.Run(name, func(t *testing.T) {
			remoteTree := filepath.Join(t.TempDir(), "tree")
			want := makeTree(t, remoteTree)

			local := t.TempDir()
			provision(t, mk(), `
direction = "download"
source = "`+remoteTree+`"
destination = "`+local+`"
`)
			sameTree(t, "without slash", sums(t, filepath.Join(local, "tree")), want)

			local = t.TempDir()
			provision(t, mk(), `
direction = "download"
source = "`+remoteTree+`/"
destination = "`+local+`"
`)
			sameTree(t, "with slash", sums(t, local), want)
		})
	}
}

func TestFileUploadDownloadAndProgress(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "big.bin")
	data := make([]byte, 3<<20)
	rand.Read(data)
	os.WriteFile(src, data, 0o600)
	want := sha256.Sum256(data)

	remote := t.TempDir()
	rec := provision(t, &localcomm.Comm{}, `
source = "`+src+`"
destination = "`+remote+`/"
`)
	got, err := os.ReadFile(filepath.Join(remote, "big.bin"))
	if err != nil || sha256.Sum256(got) != want {
		t.Fatalf("uploaded file differs (err %v)", err)
	}
	ps := eventtest.Of[*event.Progress](rec)
	if len(ps) == 0 {
		t.Fatal("no progress events")
	}
	last := ps[len(ps)-1]
	if last.Done != int64(len(data)) || last.Total != int64(len(data)) || last.Unit != "bytes" {
		t.Errorf("last progress = %+v, want done = total = %d bytes", last, len(data))
	}

	local := filepath.Join(t.TempDir(), "new", "copy.bin")
	provision(t, &localcomm.Comm{}, `
direction = "download"
source = "`+filepath.Join(remote, "big.bin")+`"
destination = "`+local+`"
`)
	got, err = os.ReadFile(local)
	if err != nil || sha256.Sum256(got) != want {
		t.Fatalf("downloaded file differs (err %v)", err)
	}

	// Into an existing directory named without a trailing slash.
	existing := t.TempDir()
	provision(t, &localcomm.Comm{}, `
direction = "download"
source = "`+filepath.Join(remote, "big.bin")+`"
destination = "`+existing+`"
`)
	if got, err = os.ReadFile(filepath.Join(existing, "big.bin")); err != nil || sha256.Sum256(got) != want {
		t.Fatalf("download into an existing directory: %v", err)
	}
}

func TestContent(t *testing.T) {
	remote := t.TempDir()
	provision(t, &localcomm.Comm{}, `
content = "hello {{ .Host }}\n"
destination = "`+remote+`/"
`)
	got, err := os.ReadFile(filepath.Join(remote, ContentFile))
	if err != nil || string(got) != "hello {{ .Host }}\n" {
		// content is uploaded as written; only paths are legacy templates.
		t.Fatalf("content = %q, %v", got, err)
	}
}

func TestValidation(t *testing.T) {
	cases := []struct{ src, want string }{
		{`destination = "/tmp/x"`, "Nothing to copy"},
		{`source = "/nonexistent/x"` + "\n" + `destination = "/tmp/x"`, "Source not found"},
		{`source = "/nonexistent/x"` + "\n" + `generated = true` + "\n" + `destination = "/tmp/"` + "\n" + `direction = "sideways"`, "Invalid direction"},
		{`content = "x"` + "\n" + `source = "file_test.go"` + "\n" + `destination = "/tmp/x"`, "Conflicting arguments"},
		{`source = "file_test.go"`, "Missing required argument"},
		{`sources = ["file_test.go", "file.go"]` + "\n" + `destination = "/tmp/x"`, "Destination must be a directory"},
	}
	for _, tc := range cases {
		f, _ := hclsyntax.ParseConfig([]byte(tc.src), "t.pkr.hcl", hcl.InitialPos)
		_, diags := New(f.Body, nil)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%q: diags = %v, want %q", tc.src, diags, tc.want)
		}
	}
	f, _ := hclsyntax.ParseConfig([]byte(`source = "/not/yet"`+"\n"+`generated = true`+"\n"+`destination = "/tmp/"`), "t.pkr.hcl", hcl.InitialPos)
	if _, diags := New(f.Body, nil); diags.HasErrors() {
		t.Errorf("generated source: %v", diags)
	}
}

// reporting is a communicator that reports its own progress.
type reporting struct{ localcomm.Comm }

func (*reporting) ReportsProgress() bool { return true }

func TestNoDoubleProgress(t *testing.T) {
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("data"), 0o644)
	rec := provision(t, &reporting{}, `
source = "`+src+`"
destination = "`+t.TempDir()+`/"
`)
	if ps := eventtest.Of[*event.Progress](rec); len(ps) != 0 {
		t.Errorf("%d progress events, want none: the communicator reports its own", len(ps))
	}
}

package qemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
)

func TestParseChecksum(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	good := map[string]checksum{
		"none":                           {none: true},
		"sha256:" + sha:                  {kind: "sha256", want: sha},
		"SHA256:" + strings.ToUpper(sha): {kind: "sha256", want: sha},
		sha:                              {kind: "sha256", want: sha},
		"md5:" + sha[:32]:                {kind: "md5", want: sha[:32]},
		sha[:40]:                         {kind: "sha1", want: sha[:40]},
		"file:SHA256SUMS":                {file: "SHA256SUMS"},
		"file:https://x/SUMS":            {file: "https://x/SUMS"},
	}
	for in, want := range good {
		got, err := parseChecksum(in)
		if err != nil || got != want {
			t.Errorf("parseChecksum(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "sha256:", "sha256:" + sha[:10], "crc32:00000000", "file:", "xyz"} {
		if _, err := parseChecksum(in); err == nil {
			t.Errorf("parseChecksum(%q) succeeded", in)
		}
	}
}

func TestChecksumFromList(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	list := "# comment\n" + a + "  other.qcow2\n" + b + " *debian.qcow2\nSHA512 (x.img) = " + strings.Repeat("c", 128) + "\n"
	for name, want := range map[string]string{"debian.qcow2": b, "other.qcow2": a, "x.img": strings.Repeat("c", 128)} {
		got, err := fromList(strings.NewReader(list), name)
		if err != nil || got.want != want {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
	if _, err := fromList(strings.NewReader(list), "missing.qcow2"); err == nil {
		t.Error("missing entry found")
	}
	if got, err := fromList(strings.NewReader(a+"\n"), "anything"); err != nil || got.want != a {
		t.Errorf("bare digest: %+v, %v", got, err)
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestFetchLocal(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.qcow2")
	data := []byte("pretend image")
	os.WriteFile(img, data, 0o644)
	os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sha256hex(data)+"  disk.qcow2\n"), 0o644)
	f := &fetcher{cacheDir: t.TempDir(), client: http.DefaultClient, events: event.Discard}
	ctx := context.Background()
	for _, sum := range []string{"sha256:" + sha256hex(data), "file:" + filepath.Join(dir, "SHA256SUMS"), "none"} {
		c, _ := parseChecksum(sum)
		for _, u := range []string{img, "file://" + img} {
			got, err := f.fetch(ctx, []string{u}, c)
			if err != nil || got != img {
				t.Errorf("fetch %s with %s = %q, %v", u, sum, got, err)
			}
		}
	}
	bad, _ := parseChecksum("sha256:" + strings.Repeat("0", 64))
	if _, err := f.fetch(ctx, []string{img}, bad); err == nil || !strings.Contains(err.Error(), "mismatch") {
		t.Errorf("wrong checksum: %v", err)
	}
	if _, err := f.fetch(ctx, []string{filepath.Join(dir, "nope.qcow2")}, checksum{none: true}); err == nil {
		t.Error("missing file fetched")
	}
	if _, err := f.fetch(ctx, []string{"ftp://x/y"}, checksum{none: true}); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("ftp: %v", err)
	}
}

// TestFetchHTTP downloads from a loopback server: progress events, the
// cache reused, a partial download resumed with a Range request, a corrupt
// one discarded, and the next mirror tried after a failing one.
func TestFetchHTTP(t *testing.T) {
	data := bytes.Repeat([]byte("kiln image "), 100_000)
	var mu sync.Mutex
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.URL.Path+" "+r.Header.Get("Range"))
		mu.Unlock()
		switch r.URL.Path {
		case "/disk.qcow2":
			http.ServeContent(w, r, "disk.qcow2", time.Time{}, bytes.NewReader(data))
		case "/SHA256SUMS":
			w.Write([]byte(sha256hex(data) + "  disk.qcow2\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", srv.URL)
	}
	rec := &eventtest.Recorder{}
	f := &fetcher{cacheDir: t.TempDir(), client: srv.Client(), events: rec}
	ctx := context.Background()
	sum, _ := parseChecksum("file:" + srv.URL + "/SHA256SUMS")
	url := srv.URL + "/disk.qcow2"

	// The first mirror fails; the second is downloaded.
	p, err := f.fetch(ctx, []string{srv.URL + "/missing.qcow2", url}, sum)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		t.Fatal("downloaded data differs")
	}
	if progress := eventtest.Of[*event.Progress](rec); len(progress) == 0 || progress[len(progress)-1].Done != int64(len(data)) || progress[len(progress)-1].Total != int64(len(data)) {
		t.Errorf("progress events: %d, last %+v", len(progress), progress[len(progress)-1])
	}

	// Cached: no second download.
	requests = nil
	if p2, err := f.fetch(ctx, []string{url}, sum); err != nil || p2 != p {
		t.Fatalf("cached fetch = %q, %v", p2, err)
	}
	for _, r := range requests {
		if strings.HasPrefix(r, "/disk.qcow2") {
			t.Errorf("cached image downloaded again: %v", requests)
		}
	}

	// A partial download resumes where it stopped.
	os.Remove(p)
	os.WriteFile(p+".part", data[:300_000], 0o644)
	requests = nil
	if _, err := f.fetch(ctx, []string{url}, sum); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		t.Fatal("resumed download differs")
	}
	if !slices.Contains(requests, "/disk.qcow2 bytes=300000-") {
		t.Errorf("no resume request: %v", requests)
	}

	// A corrupt partial download fails verification and is not kept.
	os.Remove(p)
	os.WriteFile(p+".part", bytes.Repeat([]byte("x"), 300_000), 0o644)
	if _, err := f.fetch(ctx, []string{url}, sum); err == nil || !strings.Contains(err.Error(), "mismatch") {
		t.Fatalf("corrupt resume: %v", err)
	}
	if _, err := os.Stat(p + ".part"); !os.IsNotExist(err) {
		t.Error("corrupt partial download kept")
	}
	if p3, err := f.fetch(ctx, []string{url}, sum); err != nil || p3 != p {
		t.Errorf("fresh download after corruption: %v", err)
	}
}

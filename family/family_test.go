package family

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNextVersion(t *testing.T) {
	tests := []struct {
		existing []string
		policy   string
		want     string
		err      string
	}{
		{nil, "auto", "1.0.0", ""},
		{nil, "minor", "1.0.0", ""},
		{[]string{"1.0.9", "1.0.10", "1.0.2"}, "auto", "1.0.11", ""}, // semver, not text order
		{[]string{"1.2.3", "not-semver"}, "minor", "1.3.0", ""},
		{[]string{"1.2.3"}, "major", "2.0.0", ""},
		{[]string{"1.2.3"}, "1.4.0", "1.4.0", ""},
		{[]string{"1.4.0"}, "1.4.0", "", "exists already"},
		{nil, "one", "", "want auto"},
	}
	for _, tt := range tests {
		got, err := NextVersion(tt.existing, tt.policy)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("NextVersion(%v, %q) error = %v, want %q", tt.existing, tt.policy, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NextVersion(%v, %q) = %q, %v; want %q", tt.existing, tt.policy, got, err, tt.want)
		}
	}
	if v, err := Bump("1.0.9"); err != nil || v != "1.0.10" {
		t.Errorf("Bump = %q, %v", v, err)
	}
}

func TestPlanPrune(t *testing.T) {
	var imgs []Image
	for _, v := range []string{"1.0.10", "1.0.2", "1.0.0", "1.0.1", "1.0.9"} {
		imgs = append(imgs, Image{Version: v})
	}
	plan := PlanPrune(imgs, 2, map[string]string{"stable": "1.0.0"}, map[string]string{"1.0.2": "instance i-1"})
	var got []string
	for _, d := range plan {
		mark := "keep"
		if d.Remove {
			mark = "remove"
		}
		got = append(got, d.Image.Version+":"+mark)
	}
	want := "1.0.0:keep 1.0.1:remove 1.0.2:keep 1.0.9:keep 1.0.10:keep"
	if strings.Join(got, " ") != want {
		t.Errorf("plan = %v, want %s", got, want)
	}
	if !strings.Contains(plan[0].Reason, "stable") || !strings.Contains(plan[2].Reason, "i-1") {
		t.Errorf("reasons: %q, %q", plan[0].Reason, plan[2].Reason)
	}
	if p := PlanPrune(imgs[:1], 0, nil, nil); p[0].Remove {
		t.Error("keep = 0 removed the only version")
	}
}

func TestDigest(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.sh")
	sum := func(content string) string {
		if err := os.WriteFile(script, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		d := NewDigest("0")
		d.Add("source-config", "", []byte(`{"instance_type":"t3.micro"}`))
		if err := d.AddPath("s.sh", script); err != nil {
			t.Fatal(err)
		}
		return d.Sum()
	}
	a, b, c := sum("echo a\n"), sum("echo a\n"), sum("echo b\n")
	if a != b || a == c || !strings.HasPrefix(a, "sha256:") || len(a) != 71 {
		t.Errorf("digests %s %s %s", a, b, c)
	}
	// Records are framed: moving bytes between name and data changes it.
	d1, d2 := NewDigest("0"), NewDigest("0")
	d1.Add("k", "ab", []byte("c"))
	d2.Add("k", "a", []byte("bc"))
	if d1.Sum() == d2.Sum() {
		t.Error("record framing is ambiguous")
	}
	if err := NewDigest("0").AddPath("missing", filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file was digested")
	}
}

func TestLocalCatalogRollbackAndDelete(t *testing.T) {
	ctx := context.Background()
	l := &Local{Root: t.TempDir()}
	for _, v := range []string{"1.0.0", "1.0.1"} {
		dir := filepath.Join(l.Root, "web-"+v)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "web.qcow2"), []byte(v), 0o644)
		if err := WriteSidecar(dir, Sidecar{Family: "web", Version: v, Name: "web-" + v, Files: []string{"web.qcow2"},
			Tags: map[string]string{TagStatus: StatusBuilt}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Rollback(ctx, l, "web", "stable"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rollback of a missing channel: %v", err)
	}
	for _, v := range []string{"1.0.0", "1.0.1"} {
		if _, err := Promote(ctx, l, "web", v, "stable"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Promote(ctx, l, "web", "9.9.9", "stable"); !errors.Is(err, ErrNotFound) {
		t.Errorf("promote of a missing version: %v", err)
	}
	img, err := Rollback(ctx, l, "web", "stable")
	if err != nil || img.Version != "1.0.0" {
		t.Fatalf("rollback: %v %v", img.Version, err)
	}
	if chs, _ := l.Channels(ctx, "web"); chs["stable"] != "1.0.0" {
		t.Errorf("channels %v", chs)
	}
	img, _ = Find(ctx, l, "web", "1.0.1")
	if err := l.SetStatus(ctx, img, StatusFailedTest); err != nil {
		t.Fatal(err)
	}
	if _, err := Promote(ctx, l, "web", "1.0.1", "stable"); err == nil {
		t.Error("a failed-test version was promoted")
	}
	dec, err := Prune(ctx, l, "web", 1, true)
	if err != nil || len(dec) != 2 || dec[0].Remove {
		t.Errorf("dry run: %+v %v", dec, err)
	}
	if err := l.Delete(ctx, img); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(l.Root, "web-1.0.1")); !os.IsNotExist(err) {
		t.Errorf("web-1.0.1 not removed: %v", err)
	}
	if imgs, _ := l.Images(ctx, "web"); len(imgs) != 1 {
		t.Errorf("images after delete: %+v", imgs)
	}
}

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/internal/testenv"
)

func TestUnifiedDiffGolden(t *testing.T) {
	// The same as diff -u prints for these texts.
	a := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nl\nm\n"
	b := "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nl\nm\nk\n"
	want := `--- old
+++ new
@@ -1,7 +1,7 @@
 a
 b
 c
-d
+D
 e
 f
 g
@@ -10,3 +10,4 @@
 j
 l
 m
+k
`
	var out bytes.Buffer
	if err := unifiedDiff(&out, "old", "new", a, b); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Errorf("diff:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestUnifiedDiffEqual(t *testing.T) {
	var out bytes.Buffer
	unifiedDiff(&out, "a", "b", "x\ny\n", "x\ny\n")
	if out.Len() != 0 {
		t.Errorf("diff of equal texts: %q", out.String())
	}
}

// TestUnifiedDiffPatch applies each diff with patch(1) and checks that the
// result is the new text.
func TestUnifiedDiffPatch(t *testing.T) {
	patch := testenv.Tool(t, "patch")
	cases := []struct{ a, b string }{
		{"", "one\n"},
		{"one\n", ""},
		{"x\n", "y\n"},
		{"a\nb\nc\n", "c\nb\na\n"},
		{"no newline", "no newline\n"},
		{"a\nb", "a\nc"},
		{strings.Repeat("same\n", 20) + "old\n" + strings.Repeat("same\n", 20), strings.Repeat("same\n", 20) + "new\nmore\n" + strings.Repeat("same\n", 19)},
		{"source \"null\" \"a\" {\ncommunicator=\"none\"\n}\n", "source \"null\" \"a\" {\n  communicator = \"none\"\n}\n"},
		{"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n", "0\n1\n2\n3\n4\n5\n6\n7\n8\n10\n11\n12\n13\n14\n15\n16\n"},
	}
	for i, c := range cases {
		dir := t.TempDir()
		f := filepath.Join(dir, "f")
		os.WriteFile(f, []byte(c.a), 0o644)
		var d bytes.Buffer
		unifiedDiff(&d, "f", "f", c.a, c.b)
		cmd := exec.Command(patch, "-s", "-p0", "f")
		cmd.Dir = dir
		cmd.Stdin = &d
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("case %d: patch: %v\n%s\ndiff:\n%s", i, err, out, d.String())
			continue
		}
		got, _ := os.ReadFile(f)
		if string(got) != c.b {
			t.Errorf("case %d: patched text %q, want %q\ndiff:\n%s", i, got, c.b, d.String())
		}
	}
}

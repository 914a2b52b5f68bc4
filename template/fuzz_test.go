package template

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad loads arbitrary text as a template file: whatever the input, Load,
// the bodies it returns and WriteDiagnostics must not panic.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.hcl")
	for _, s := range seeds {
		src, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.pkr.hcl"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		tpl, diags := Load(dir, WithNow(testNow), WithEnviron([]string{"PKR_VAR_x=1"}), WithEmbeddedPlugins(embedded...))
		if tpl == nil {
			t.Fatal("nil template")
		}
		for _, b := range tpl.Builds {
			for _, s := range b.Sources {
				ctx := tpl.EvalContext(b, s, map[string]string{"ID": "i-1"})
				attrs, _ := s.Body.JustAttributes()
				for _, a := range attrs {
					_, _ = a.Expr.Value(ctx)
				}
			}
		}
		_ = tpl.WriteDiagnostics(io.Discard, diags, true, 80)
	})
}

// BenchmarkLoadLarge loads a template of 200 sources and 200 builds, each
// build with a provisioner, as kiln validate does.
func BenchmarkLoadLarge(b *testing.B) {
	dir := b.TempDir()
	var src strings.Builder
	src.WriteString("variable \"prefix\" {\n  default = \"bench\"\n}\n\nlocals {\n  stamp = formatdate(\"YYYYMMDD\", timestamp())\n}\n\n")
	for i := range 200 {
		fmt.Fprintf(&src, `source "null" "s%[1]d" {
  communicator = "ssh"
  ssh_host     = "127.0.0.1"
  ssh_username = "user%[1]d"
  ssh_port     = %[2]d
}

build {
  name    = "${var.prefix}-%[1]d"
  sources = ["source.null.s%[1]d"]

  provisioner "shell" {
    inline       = ["echo ${source.name} ${local.stamp}"]
    pause_before = "1s"
    max_retries  = 2
    only         = ["null.s%[1]d"]
  }
}

`, i, 2200+i)
	}
	if err := os.WriteFile(filepath.Join(dir, "large.pkr.hcl"), []byte(src.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		tpl, diags := Load(dir, WithEnviron(nil))
		if diags.HasErrors() || len(tpl.Builds) != 200 || len(tpl.Sources) != 200 {
			b.Fatalf("%v: %d builds", diags, len(tpl.Builds))
		}
	}
}

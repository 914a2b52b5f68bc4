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

// FuzzLegacy renders arbitrary legacy strings with arbitrary data: Render
// must not panic, must return a string without "{{" unchanged, and must
// stay within MaxLegacyOutput.
func FuzzLegacy(f *testing.F) {
	for _, s := range []string{
		"ami-{{timestamp}}", "{{ isotime \"2006-01-02\" }}", "{{ .BuildRegion }} from {{ .SourceAMI }}",
		"{{ clean_resource_name .SourceAMIName }}", "{{ split .BuildRegion \"-\" 1 }}",
		"{{ replace \"-\" \"_\" 1 .BuildRegion }}", "{{ replace_all \"\" \"ab\" .SourceAMI | upper }}",
		"{{ if .BuildRegion }}{{ build_name }}{{ else }}{{ build_type }}{{ end }}", "{{ with .SourceAMI }}{{ . }}{{ end }}",
		"{{ range . }}x{{ end }}", "{{ define \"a\" }}{{ end }}", "plain {not} a template", "{{ uuid }}{{",
	} {
		f.Add(s, "eu-west-1", "ami-123")
	}
	f.Fuzz(func(t *testing.T, s, region, ami string) {
		l := Legacy{Now: testNow, BuildName: "web", BuildType: "null",
			Data: map[string]string{"BuildRegion": region, "SourceAMI": ami, "SourceAMIName": ami + region}}
		out, err := l.Render(s)
		if !strings.Contains(s, "{{") && (out != s || err != nil) {
			t.Fatalf("Render(%q) = %q, %v; want it unchanged", s, out, err)
		}
		if len(out) > MaxLegacyOutput {
			t.Fatalf("Render(%q) gave %d bytes", s, len(out))
		}
	})
}

// FuzzVarFile loads a template that declares variables of several types
// with arbitrary text as a -var-file and as an auto var file: Load and
// WriteDiagnostics must not panic, and a value for a declared variable
// either converts to its type or is reported.
func FuzzVarFile(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.pkrvars.hcl")
	for _, s := range seeds {
		src, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, s := range []string{
		"s = \"x\"\nn = 1\nl = [\"a\"]\nm = { a = 1 }\no = { name = \"x\", size = 2 }\n",
		"s = <<EOT\nline\nEOT\n", "l = [for i in range(3) : tostring(i)]\n", "undeclared = 1\n",
		"n = \"not a number\"\n", "s = var.n\n", "o = { name = 1 }\n", "s = file(\"/dev/null\")\n",
	} {
		f.Add([]byte(s))
	}
	const decls = `variable "s" {
  type    = string
  default = "d"
}
variable "n" {
  type    = number
  default = 0
}
variable "l" {
  type    = list(string)
  default = []
}
variable "m" {
  type    = map(number)
  default = {}
}
variable "o" {
  type    = object({ name = string, size = optional(number, 1) })
  default = { name = "n" }
}
variable "secret" {
  type      = string
  default   = "hunter2"
  sensitive = true
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
`
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.pkr.hcl"), []byte(decls), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a.auto.pkrvars.hcl"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		varFile := filepath.Join(t.TempDir(), "x.pkrvars.hcl")
		if err := os.WriteFile(varFile, src, 0o644); err != nil {
			t.Fatal(err)
		}
		tpl, diags := Load(dir, WithNow(testNow), WithEnviron(nil), WithVarFiles(varFile))
		if tpl == nil {
			t.Fatal("nil template")
		}
		if len(diags) > MaxDiagnostics {
			t.Fatalf("%d diagnostics", len(diags))
		}
		if !diags.HasErrors() {
			for name, ty := range map[string]string{"s": "string", "n": "number", "l": "list of string", "m": "map of number"} {
				v := tpl.Variables[name].Value
				if v.IsKnown() && !v.IsNull() && v.Type().FriendlyName() != ty {
					t.Fatalf("var.%s is %s, want %s", name, v.Type().FriendlyName(), ty)
				}
			}
		}
		var b strings.Builder
		_ = tpl.WriteDiagnostics(&b, diags, false, 80)
		if strings.Contains(b.String(), "hunter2") && !strings.Contains(string(src), "hunter2") {
			t.Fatalf("the sensitive default shows in\n%s", b.String())
		}
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

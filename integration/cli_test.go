package integration

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good/good.pkr.hcl", `
variable "who" {
  type    = string
  default = "world"
}

source "null" "a" {
  communicator = "none"
}

build {
  sources = ["source.null.a"]

  provisioner "shell-local" {
    inline = ["echo hello ${var.who}"]
  }
}
`)
	r := runKiln(t, dir, "validate", good)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "The configuration is valid." {
		t.Errorf("valid template:\n%s", r)
	}
	if r := runKiln(t, dir, "validate", "-var", "who=you", good); r.code != 0 {
		t.Errorf("-var who=you:\n%s", r)
	}
	if r := runKiln(t, dir, "validate", "--var", "nobody=1", good); r.code != 1 || !strings.Contains(r.stderr, "nobody") {
		t.Errorf("an undeclared -var (with a double dash): exit %d, want 1 naming it\n%s", r.code, r)
	}

	writeFile(t, dir, "bad/bad.pkr.hcl", `source "null" "a" {
  communicator = "none"
}

build {
  sources = ["source.null.a"]

  provisioner "shel" {
    inline = ["true"]
  }
}
`)
	r = runKiln(t, dir, "validate", "bad")
	if r.code != 1 {
		t.Fatalf("invalid template: exit %d, want 1\n%s", r.code, r)
	}
	for _, want := range []string{"on bad/bad.pkr.hcl line 8", `provisioner "shel"`, `did you mean "shell"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, r.stderr)
		}
	}
	// The snippet shows the line with its number.
	if !regexp.MustCompile(`(?m)^\s+8: +provisioner "shel" \{`).MatchString(r.stderr) {
		t.Errorf("no snippet of line 8:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "valid") {
		t.Errorf("an invalid template printed %q", r.stdout)
	}
	if strings.Contains(r.stderr, "\x1b[") {
		t.Errorf("colour codes in diagnostics that are not on a terminal")
	}
	if r := runKiln(t, dir, "validate", "-syntax-only", "bad"); r.code != 0 || strings.TrimSpace(r.stdout) != "The configuration is syntactically valid." {
		t.Errorf("-syntax-only on a template that parses: exit %d, want 0 and that only syntax was checked\n%s", r.code, r)
	}
	writeFile(t, dir, "broken/broken.pkr.hcl", "build {\n  sources = [\n")
	if r := runKiln(t, dir, "validate", "-syntax-only", "broken"); r.code != 1 || !strings.Contains(r.stderr, "broken.pkr.hcl line 3") {
		t.Errorf("-syntax-only on a template that does not parse: exit %d, want 1\n%s", r.code, r)
	}

	for _, args := range [][]string{{"validate"}, {"validate", "a", "b"}, {"validate", "-nope", good}, {"frobnicate"}, {}} {
		if r := runKiln(t, dir, args...); r.code != 2 {
			t.Errorf("kiln %v: exit %d, want 2 (usage)\n%s", args, r.code, r)
		}
	}
}

func TestValidateSensitiveNotShown(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "s.pkr.hcl", `
variable "password" {
  type      = string
  sensitive = true
}

source "null" "a" {
  communicator = "none"
}

build {
  sources = ["source.null.a"]

  provisioner "shell-local" {
    inline = [var.password]
    nope   = var.password
  }
}
`)
	r := runKiln(t, dir, "validate", "-var", "password=hunter2-secret", ".")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r)
	}
	if strings.Contains(r.stderr+r.stdout, "hunter2-secret") {
		t.Errorf("the sensitive value appears in the output:\n%s", r)
	}
	r = runKiln(t, dir, "inspect", "-var", "password=hunter2-secret", ".")
	if strings.Contains(r.stderr+r.stdout, "hunter2-secret") {
		t.Errorf("inspect shows the sensitive value:\n%s", r)
	}
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "i.pkr.hcl", `
variable "region" {
  type        = string
  default     = "eu-west-1"
  description = "where"
}

variable "token" {
  type      = string
  default   = "s3cr3t-value"
  sensitive = true
}

locals {
  name = "img-${var.region}"
}

source "null" "a" {
  communicator = "none"
}

build {
  name    = "web"
  sources = ["source.null.a"]

  provisioner "shell-local" {
    inline = ["true"]
  }

  post-processor "manifest" {}
}
`)
	r := runKiln(t, dir, "inspect", "-var", "region=us-east-1", ".")
	if r.code != 0 {
		t.Fatalf("inspect:\n%s", r)
	}
	for _, want := range []string{
		`var.region: "us-east-1"  # where`,
		`var.token: <sensitive>`,
		`local.name: "img-us-east-1"`,
		`source.null.a`,
		`> web`,
		`web.null.a`,
		`shell-local`,
		`0: manifest`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "s3cr3t-value") {
		t.Errorf("inspect shows a sensitive value:\n%s", r.stdout)
	}
}

func TestFmt(t *testing.T) {
	dir := t.TempDir()
	ugly := "source \"null\" \"a\" {\ncommunicator=\"none\"\n    ssh_timeout = \"1m\"\n}\n"
	pretty := "source \"null\" \"a\" {\n  communicator = \"none\"\n  ssh_timeout  = \"1m\"\n}\n"
	f := writeFile(t, dir, "x.pkr.hcl", ugly)
	writeFile(t, dir, "sub/y.pkrvars.hcl", "a=1\nbb=2\n")
	writeFile(t, dir, "notes.txt", "not=touched\n")

	r := runKiln(t, dir, "fmt", "-check", ".")
	if r.code != 3 || strings.TrimSpace(r.stdout) != "x.pkr.hcl" {
		t.Errorf("fmt -check: exit %d (want 3) listing x.pkr.hcl only\n%s", r.code, r)
	}
	if readFile(t, f) != ugly {
		t.Errorf("fmt -check changed the file")
	}
	r = runKiln(t, dir, "fmt", "-check", "-diff", "-recursive", ".")
	for _, want := range []string{"--- old/x.pkr.hcl", "+++ new/x.pkr.hcl", "-communicator=\"none\"", "+  communicator = \"none\"", "sub/y.pkrvars.hcl", "+a  = 1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("fmt -diff lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != 3 {
		t.Errorf("fmt -check -diff: exit %d, want 3", r.code)
	}
	if r := runKiln(t, dir, "fmt", "-write=false", "."); r.code != 0 || readFile(t, f) != ugly {
		t.Errorf("fmt -write=false: exit %d or the file changed\n%s", r.code, r)
	}
	if r := runKiln(t, dir, "fmt", "."); r.code != 0 || readFile(t, f) != pretty {
		t.Errorf("fmt: exit %d, file now %q\n%s", r.code, readFile(t, f), r)
	}
	if r := runKiln(t, dir, "fmt", "-check", f); r.code != 0 || r.stdout != "" {
		t.Errorf("fmt -check after fmt:\n%s", r)
	}
	if got := readFile(t, filepath.Join(dir, "notes.txt")); got != "not=touched\n" {
		t.Errorf("fmt touched a file that is not a template: %q", got)
	}

	writeFile(t, dir, "bad/bad.pkr.hcl", "source {\n")
	if r := runKiln(t, dir, "fmt", "bad"); r.code != 1 || !strings.Contains(r.stderr, "bad.pkr.hcl line 1") {
		t.Errorf("fmt on a file that does not parse: exit %d, want 1 with its location\n%s", r.code, r)
	}
}

func TestFmtStdin(t *testing.T) {
	cmd := newKilnCmd(t, "fmt", "-")
	cmd.Stdin = strings.NewReader("a=1\nbbb = \"x\"\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fmt -: %v", err)
	}
	if string(out) != "a   = 1\nbbb = \"x\"\n" {
		t.Errorf("fmt - wrote %q", out)
	}
}

func TestVersionAndHelp(t *testing.T) {
	dir := t.TempDir()
	r := runKiln(t, dir, "version")
	if r.code != 0 || !regexp.MustCompile(`^kiln \S+ \(go`).MatchString(r.stdout) {
		t.Errorf("version:\n%s", r)
	}
	r = runKiln(t, dir, "-h")
	if r.code != 0 || !strings.Contains(r.stdout, "Usage: kiln <command>") {
		t.Errorf("-h:\n%s", r)
	}
	r = runKiln(t, dir, "build", "-h")
	if r.code != 0 || !strings.Contains(r.stdout, "-on-error") || !strings.Contains(r.stdout, "-parallel-builds") || r.stderr != "" {
		t.Errorf("build -h (usage on stdout only):\n%s", r)
	}
}

// newKilnCmd returns a kiln command to run in a temporary directory.
func newKilnCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(kilnBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = kilnEnv()
	return cmd
}

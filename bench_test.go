package kiln_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/internal/testsshd"
)

// largeTemplate returns a template with n sources and n builds, each build
// using one source and running a shell provisioner: the shape of the
// validation target in issue 2 (200 × 200 under 50 ms).
func largeTemplate(n int) string {
	var b strings.Builder
	b.WriteString(`variable "user" {
  type    = string
  default = "admin"
}
`)
	for i := range n {
		fmt.Fprintf(&b, `
source "null" "s%d" {
  ssh_host            = "10.0.%d.%d"
  ssh_username        = var.user
  ssh_host_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEtqp0Gpek2vGUZgAQtiHhV3QXMlDuBAJq0fRQ4rnvIR"
}
`, i, i/250, i%250)
	}
	for i := range n {
		fmt.Fprintf(&b, `
build {
  name    = "b%d"
  sources = ["source.null.s%d"]

  provisioner "shell" {
    environment_vars = ["INDEX=%d"]
    inline           = ["echo building ${source.name} on ${build.Host}", "uname -a"]
  }
}
`, i, i, i)
	}
	return b.String()
}

func BenchmarkValidateLarge(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "large.pkr.hcl"), []byte(largeTemplate(200)), 0o644); err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime(b)
	for b.Loop() {
		tpl, diags := kiln.Load(dir)
		if !diags.HasErrors() {
			diags = kiln.Validate(tpl)
		}
		if len(diags) > 0 {
			b.Fatal(diags)
		}
	}
	// On a shared machine wall time depends on the neighbours; the process's
	// CPU time per operation much less.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the user and system CPU time the process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLargeTemplateValidates keeps the benchmark's template valid, so that
// the benchmark measures a full validation.
func TestLargeTemplateValidates(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "large.pkr.hcl"), []byte(largeTemplate(200)), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, diags := kiln.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(tpl.Builds) != 200 || len(tpl.Sources) != 200 {
		t.Fatalf("%d builds, %d sources", len(tpl.Builds), len(tpl.Sources))
	}
	if diags := kiln.Validate(tpl); len(diags) > 0 {
		t.Fatal(diags)
	}
}

// BenchmarkBuild50Provisioners runs, per operation, a whole kiln.Build of a
// null build with 50 shell provisioners each running `true` against a real
// sshd on loopback (issue 3's target for the whole process: under 1 s).
func BenchmarkBuild50Provisioners(b *testing.B) {
	srv := testsshd.Start(b)
	var src strings.Builder
	fmt.Fprintf(&src, "source \"null\" \"sshd\" {\n%s}\nbuild {\n  sources = [\"source.null.sshd\"]\n", srv.HCL())
	for range 50 {
		src.WriteString("  provisioner \"shell\" {\n    inline = [\"true\"]\n  }\n")
	}
	src.WriteString("}\n")
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.pkr.hcl"), []byte(src.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		tpl, diags := kiln.Load(dir)
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		if _, err := kiln.Build(context.Background(), tpl); err != nil {
			b.Fatal(err)
		}
	}
}

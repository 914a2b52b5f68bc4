package template

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestPackerVariables(t *testing.T) {
	tpl := load(t, "valid-packer")
	l := func(name string) cty.Value { return tpl.Locals[name].Value }
	if got := str(t, l("version")); got != "1.16.0" {
		t.Errorf("packer.version = %q, want 1.16.0", got)
	}
	id := str(t, l("iteration"))
	if !uuidRE.MatchString(id) || id != tpl.IterationID {
		t.Errorf("packer.iterationID = %q, Template.IterationID = %q; want one random UUID", id, tpl.IterationID)
	}
	if got := str(t, l("fingerprint")); got != id {
		t.Errorf("packer.versionFingerprint = %q, want the iteration ID %q", got, id)
	}
	// The same run gives the same ID to a build's components...
	v, err := eval(t, tpl, tpl.Builds[0], tpl.Builds[0].Sources[0], map[string]string{}, `packer.iterationID`)
	if err != nil || str(t, v) != id {
		t.Errorf("packer.iterationID in a component = %#v, %v; want %q", v, err, id)
	}
	// ...and another run a new one.
	if other := load(t, "valid-packer"); other.IterationID == id {
		t.Errorf("two loads share the iteration ID %s", id)
	}
	for name, want := range map[string]cty.Value{
		"attrs": cty.NumberIntVal(3), "host": cty.StringVal("10.0.1.5"), "position": cty.NumberIntVal(2),
		"total": cty.NumberFloatVal(6.5), "all_up": cty.True, "any_up": cty.True, "port": cty.NumberIntVal(8080),
		"utf16": cty.StringVal("awBpAGwAbgA="), "query": cty.StringVal("a+b%26c"), "year": cty.NumberIntVal(2026),
		"epoch_day": cty.NumberIntVal(2), "stamp": cty.StringVal("20260304"),
	} {
		if got := l(name); !got.Equals(want).True() {
			t.Errorf("local.%s = %#v, want %#v", name, got, want)
		}
	}
	if tpl.Builds[0].Name != "b-20260304" {
		t.Errorf("build name %q", tpl.Builds[0].Name)
	}
}

func TestVersionFingerprintFromEnvironment(t *testing.T) {
	tpl := load(t, "valid-packer", WithEnviron([]string{"HCP_PACKER_BUILD_FINGERPRINT=abc123"}))
	if got := str(t, tpl.Locals["fingerprint"].Value); got != "abc123" {
		t.Errorf("packer.versionFingerprint = %q, want abc123", got)
	}
}

func TestPackerVariablesOfAZeroTemplate(t *testing.T) {
	for _, src := range []string{`packer.iterationID`, `packer.versionFingerprint`} {
		v, err := eval(t, &Template{}, nil, nil, nil, src)
		if err != nil || v.IsKnown() {
			t.Errorf("%s = %#v, %v; want unknown", src, v, err)
		}
	}
}

// HCL lists a block's unknown arguments from a map; Load must report them in
// source order on every run.
func TestLoadDiagnosticsInSourceOrder(t *testing.T) {
	dir := t.TempDir()
	src := `source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]
  zulu    = 1
  alpha   = 2
  mike    = 3
  bravo   = 4
  yankee  = 5
}

packer {
  required_version = ">= 9"
  charlie          = 6
  xray             = 7
}
`
	if err := os.WriteFile(filepath.Join(dir, "a.pkr.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.pkr.hcl"), []byte("variable \"v\" {\n  kind = 1\n  sort = 2\n  type = string\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "[a.pkr.hcl:7:3 a.pkr.hcl:8:3 a.pkr.hcl:9:3 a.pkr.hcl:10:3 a.pkr.hcl:11:3 a.pkr.hcl:15:22 a.pkr.hcl:16:3 a.pkr.hcl:17:3 b.pkr.hcl:2:3 b.pkr.hcl:3:3]"
	for run := range 20 {
		_, diags := Load(dir, WithNow(testNow), WithEnviron(nil))
		var got []string
		for _, d := range diags {
			if d.Subject == nil {
				t.Fatalf("diagnostic without a range: %s", d.Error())
			}
			got = append(got, fmt.Sprintf("%s:%d:%d", filepath.Base(d.Subject.Filename), d.Subject.Start.Line, d.Subject.Start.Column))
		}
		if fmt.Sprint(got) != want {
			t.Fatalf("run %d: diagnostics at\n%s\nwant\n%s\n%s", run, got, want, diags.Error())
		}
	}
}

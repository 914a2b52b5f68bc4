package template

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFormat(t *testing.T) {
	in := "source \"null\" \"x\" {\ncommunicator=\"none\"\n  ssh_port =   22\n}\n"
	want := "source \"null\" \"x\" {\n  communicator = \"none\"\n  ssh_port     = 22\n}\n"
	got, diags := Format([]byte(in), "x.pkr.hcl")
	if diags.HasErrors() || string(got) != want {
		t.Errorf("Format = %q, %v; want %q", got, diags, want)
	}
	again, _ := Format(got, "x.pkr.hcl")
	if string(again) != want {
		t.Errorf("Format is not idempotent: %q", again)
	}
	if out, diags := Format([]byte("source {\n  a = \n"), "bad.pkr.hcl"); !diags.HasErrors() || out != nil {
		t.Errorf("Format of broken input = %q, %v; want diagnostics", out, diags)
	}
}

// TestTestdataFormatted keeps the valid testdata in canonical form.
func TestTestdataFormatted(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid-*/*.hcl")
	if len(files) == 0 {
		t.Fatal("no files")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, diags := Format(src, f)
		if diags.HasErrors() || string(out) != string(src) {
			t.Errorf("%s is not formatted (%v):\n%s", f, diags, out)
		}
	}
}

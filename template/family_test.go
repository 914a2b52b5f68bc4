package template

import (
	"path/filepath"
	"testing"
)

func TestFamilyBlock(t *testing.T) {
	dir := filepath.Join("testdata", "valid-family")
	tpl, diags := Load(dir, testOptions(dir)...)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	f := tpl.Builds[0].Family
	if f == nil || f.Name != "web" || f.Version != "minor" || f.Keep != 3 || f.Channel != "candidate" {
		t.Fatalf("family = %+v", f)
	}
	if f.Test == nil || len(f.Test.Provisioners) != 1 || f.Test.Provisioners[0].Type != "shell-local" {
		t.Errorf("test block = %+v", f.Test)
	}
	if len(tpl.Builds[0].Provisioners) != 1 {
		t.Errorf("the test block's provisioners leaked into the build's: %d", len(tpl.Builds[0].Provisioners))
	}
	dir = filepath.Join("testdata", "valid-basic")
	tpl, diags = Load(dir, testOptions(dir)...)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, b := range tpl.Builds {
		if b.Family != nil {
			t.Errorf("a build without a family block has one: %+v", b.Family)
		}
	}
}

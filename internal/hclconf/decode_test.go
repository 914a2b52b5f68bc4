package hclconf

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

type orderConfig struct {
	Name string        `hcl:"name"`
	Wait time.Duration `hcl:"wait,optional"`
}

// HCL lists a body's unknown arguments from a map; Decode must report them,
// and the rest, in source order on every run.
func TestDecodeDiagnosticsInSourceOrder(t *testing.T) {
	src := `zulu = 1
name = "x"
alpha = 2
wait = "soon"
mike = 3
bravo = 4
yankee = 5
charlie = 6
`
	f, diags := hclsyntax.ParseConfig([]byte(src), "order.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	want := []string{
		"1:1 Unsupported argument", "3:1 Unsupported argument", "4:8 Invalid duration", "5:1 Unsupported argument",
		"6:1 Unsupported argument", "7:1 Unsupported argument", "8:1 Unsupported argument",
	}
	for run := range 20 {
		var cfg orderConfig
		diags := Decode(f.Body, nil, &cfg)
		var got []string
		for _, d := range diags {
			got = append(got, fmt.Sprintf("%d:%d %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("run %d: diagnostics\n%q\nwant\n%q", run, got, want)
		}
	}
}

func TestSortBySourceKeepsRangelessLast(t *testing.T) {
	at := func(file string, line, col int) *hcl.Range {
		return &hcl.Range{Filename: file, Start: hcl.Pos{Line: line, Column: col}}
	}
	diags := hcl.Diagnostics{
		{Summary: "no range 1"},
		{Summary: "b 1:1", Subject: at("b.pkr.hcl", 1, 1)},
		{Summary: "a 2:5", Subject: at("a.pkr.hcl", 2, 5)},
		{Summary: "no range 2"},
		{Summary: "a 2:1", Subject: at("a.pkr.hcl", 2, 1)},
		{Summary: "a 1:9", Subject: at("a.pkr.hcl", 1, 9)},
	}
	SortBySource(diags)
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary)
	}
	want := []string{"a 1:9", "a 2:1", "a 2:5", "b 1:1", "no range 1", "no range 2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order %q, want %q", got, want)
	}
}

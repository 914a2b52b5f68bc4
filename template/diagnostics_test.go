package template

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestCapDiagnostics(t *testing.T) {
	var diags hcl.Diagnostics
	for i := range 150 {
		sev := hcl.DiagWarning
		if i%10 == 0 {
			sev = hcl.DiagError
		}
		diags = append(diags, &hcl.Diagnostic{Severity: sev, Summary: fmt.Sprintf("problem %d", i)})
	}
	got := capDiagnostics(diags)
	if len(got) != MaxDiagnostics {
		t.Fatalf("%d diagnostics, want %d", len(got), MaxDiagnostics)
	}
	last := got[len(got)-1]
	if last.Severity != hcl.DiagError || last.Summary != "And 51 more problems" || !strings.Contains(last.Detail, "(5 errors, 46 warnings)") {
		t.Errorf("last diagnostic %v", last)
	}
	if got[MaxDiagnostics-2].Summary != "problem 98" {
		t.Errorf("kept %q last", got[MaxDiagnostics-2].Summary)
	}
	if again := capDiagnostics(got); len(again) != len(got) || again[len(again)-1] != last {
		t.Error("capping capped diagnostics changed them")
	}
	warnings := capDiagnostics(append(diags[:MaxDiagnostics-1:MaxDiagnostics-1], diags[1:10]...))
	if sev := warnings[len(warnings)-1].Severity; sev != hcl.DiagWarning {
		t.Errorf("more warnings counted as %v", sev)
	}
	if short := diags[:MaxDiagnostics]; len(capDiagnostics(short)) != MaxDiagnostics {
		t.Error("capped diagnostics that fit")
	}
}

// snippetLineRE matches a source line of a snippet: its number and text.
var snippetLineRE = regexp.MustCompile(`(?m)^ *(\d+): (.*)$`)

func TestWriteDiagnosticsTrimsSnippets(t *testing.T) {
	long := strings.Repeat("a", 5000) + "BAD" + strings.Repeat("é", 5000)
	var src strings.Builder
	for i := 1; i <= 2000; i++ {
		switch i {
		case 10:
			src.WriteString(long + "\n")
		default:
			fmt.Fprintf(&src, "line%d = %d\n", i, i)
		}
	}
	files := map[string]*hcl.File{"f.pkr.hcl": {Bytes: []byte(src.String())}}
	line := func(l, c int) hcl.Pos {
		start := 0
		for range l - 1 {
			start += strings.IndexByte(src.String()[start:], '\n') + 1
		}
		return hcl.Pos{Line: l, Column: c, Byte: start + c - 1}
	}
	rng := func(from, to hcl.Pos) *hcl.Range { return &hcl.Range{Filename: "f.pkr.hcl", Start: from, End: to} }
	tests := []struct {
		name    string
		subject *hcl.Range
		context *hcl.Range
		lines   []string // the numbers of the lines shown
		text    string   // a part of the snippet
	}{
		{"a short line", rng(line(5, 1), line(5, 6)), nil, []string{"5"}, "line5 = 5"},
		{"a long line, cut around the problem", rng(line(10, 5001), line(10, 5004)), nil, []string{"10"}, "10: …" + strings.Repeat("a", SnippetColumns/4) + "BADé"},
		{"many lines", rng(line(100, 1), line(1900, 3)), nil, []string{"100", "101", "102"}, "line102 = 102"},
		{"a long context", rng(line(1500, 1), line(1500, 6)), rng(line(20, 1), line(1600, 1)), []string{"1498", "1499", "1500"}, "line1500 = 1500"},
		{"a context on the subject's line", rng(line(7, 9), line(7, 10)), rng(line(7, 1), line(7, 10)), []string{"7"}, "line7 = 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Boom", Subject: tt.subject, Context: tt.context}
			var b bytes.Buffer
			if err := WriteDiagnostics(&b, files, hcl.Diagnostics{d}, false, 0); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			var numbers []string
			for _, m := range snippetLineRE.FindAllStringSubmatch(out, -1) {
				numbers = append(numbers, m[1])
				if n := len(m[2]); n > SnippetColumns+2*len("…") {
					t.Errorf("line %s is %d bytes", m[1], n)
				}
			}
			if strings.Join(numbers, ",") != strings.Join(tt.lines, ",") {
				t.Errorf("lines %v, want %v:\n%s", numbers, tt.lines, out)
			}
			if !strings.Contains(out, tt.text) {
				t.Errorf("no %q in\n%s", tt.text, out)
			}
			if want := fmt.Sprintf("on f.pkr.hcl line %d:", tt.subject.Start.Line); !strings.Contains(out, want) {
				t.Errorf("no %q in\n%s", want, out)
			}
		})
	}
}

func TestWriteDiagnosticsHighlightsInTrimmedSnippet(t *testing.T) {
	src := strings.Repeat("x", 1000) + "BAD" + strings.Repeat("y", 1000) + "\n"
	files := map[string]*hcl.File{"f.pkr.hcl": {Bytes: []byte(src)}}
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Boom", Subject: &hcl.Range{
		Filename: "f.pkr.hcl",
		Start:    hcl.Pos{Line: 1, Column: 1001, Byte: 1000},
		End:      hcl.Pos{Line: 1, Column: 1004, Byte: 1003},
	}}
	var b bytes.Buffer
	if err := WriteDiagnostics(&b, files, hcl.Diagnostics{d}, true, 0); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\x1b[1;4mBAD\x1b[0m") {
		t.Errorf("the subject is not highlighted:\n%q", b.String())
	}
}

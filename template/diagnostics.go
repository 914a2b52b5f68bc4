package template

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Bounds of what WriteDiagnostics and Load report, so that hostile input (a
// file of NUL bytes, an unterminated heredoc of a million lines) yields a
// short report rather than megabytes of it.
const (
	// MaxDiagnostics is the most diagnostics Load returns and
	// WriteDiagnostics writes: the first MaxDiagnostics-1 and one that counts
	// the rest.
	MaxDiagnostics = 100
	// SnippetLines is the most source lines a diagnostic's snippet shows.
	SnippetLines = 3
	// SnippetColumns is the most bytes of a source line a snippet shows;
	// a longer line is cut around the problem, with "…" where it was cut.
	SnippetColumns = 200
)

// capDiagnostics returns diags if they are at most MaxDiagnostics, else the
// first MaxDiagnostics-1 and one diagnostic that says how many more there
// were, an error if any of those was. Capping capped diagnostics again
// changes nothing.
func capDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	if len(diags) <= MaxDiagnostics {
		return diags
	}
	keep, rest := diags[:MaxDiagnostics-1], diags[MaxDiagnostics-1:]
	errs := 0
	for _, d := range rest {
		if d.Severity == hcl.DiagError {
			errs++
		}
	}
	sev := hcl.DiagWarning
	if errs > 0 {
		sev = hcl.DiagError
	}
	out := make(hcl.Diagnostics, 0, MaxDiagnostics)
	out = append(out, keep...)
	return append(out, &hcl.Diagnostic{
		Severity: sev,
		Summary:  fmt.Sprintf("And %d more problems", len(rest)),
		Detail: fmt.Sprintf("%d more problems (%d errors, %d warnings) are not shown; fix the ones above first.",
			len(rest), errs, len(rest)-errs),
	})
}

// snippetLine is one source line a trimmed snippet shows: bytes [ws, we) of
// the line [start, end), written at offset base of the snippet's text.
type snippetLine struct {
	start, end, ws, we, base int
}

// trimSnippet returns a copy of d and a stand-in for f, its subject's file,
// from which hcl's text writer shows at most SnippetLines lines of at most
// SnippetColumns bytes (and "…" where a line was cut). The stand-in holds
// only those lines, after as many empty lines as come before them, so that
// the writer numbers them as in f; d's ranges are moved onto it.
func trimSnippet(f *hcl.File, d *hcl.Diagnostic) (*hcl.File, *hcl.Diagnostic) {
	src := f.Bytes
	subj := *d.Subject
	if subj.Start.Byte < 0 || subj.Start.Byte > len(src) || subj.Start.Line < 1 {
		return f, d
	}
	snip := subj
	if d.Context != nil {
		snip = hcl.RangeOver(snip, *d.Context)
	}
	// The lines from the snippet's first, at most SnippetLines-1 before the
	// subject's, up to SnippetLines in all.
	first := max(snip.Start.Line, subj.Start.Line-(SnippetLines-1))
	start := bytes.LastIndexByte(src[:subj.Start.Byte], '\n') + 1
	line := subj.Start.Line
	for ; line > first && start > 0; line-- {
		start = bytes.LastIndexByte(src[:start-1], '\n') + 1
	}
	first = line
	var out bytes.Buffer
	out.Write(bytes.Repeat([]byte{'\n'}, first-1))
	var lines []snippetLine
	for line = first; line < first+SnippetLines && line <= max(snip.End.Line, subj.Start.Line) && start <= len(src); line++ {
		end := len(src)
		if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
			end = start + i
		}
		l := snippetLine{start: start, end: end, ws: start, we: end}
		if end-start > SnippetColumns {
			anchor := start
			if subj.Start.Byte >= start && subj.Start.Byte <= end {
				anchor = subj.Start.Byte
			}
			l.ws = runeStart(src, max(start, anchor-SnippetColumns/4))
			l.we = runeStart(src, min(end, l.ws+SnippetColumns))
		}
		if l.ws > start {
			out.WriteString("…")
		}
		l.base = out.Len()
		out.Write(src[l.ws:l.we])
		if l.we < end {
			out.WriteString("…")
		}
		out.WriteByte('\n')
		lines = append(lines, l)
		start = end + 1
	}
	c := *d
	c.Subject = moveRange(subj, lines)
	if d.Context != nil {
		c.Context = moveRange(*d.Context, lines)
	}
	return &hcl.File{Body: f.Body, Bytes: out.Bytes(), Nav: navAt{f.Nav, subj.Start.Byte}}, &c
}

// runeStart moves offset i of src back to the start of the UTF-8 sequence it
// is in.
func runeStart(src []byte, i int) int {
	for i > 0 && i < len(src) && !utf8.RuneStart(src[i]) {
		i--
	}
	return i
}

// moveRange maps r, a range of the original file, onto a trimmed snippet of
// lines: offsets outside the lines or their shown bytes are moved to the
// nearest byte shown.
func moveRange(r hcl.Range, lines []snippetLine) *hcl.Range {
	move := func(p hcl.Pos) hcl.Pos {
		l := lines[0]
		for _, cand := range lines {
			if p.Byte >= cand.start {
				l = cand
			}
		}
		p.Byte = l.base + min(max(p.Byte, l.ws), l.we) - l.ws
		return p
	}
	r.Start, r.End = move(r.Start), move(r.End)
	return &r
}

// navAt stands in for a file's navigation in a trimmed snippet: it answers
// what the writer asks ("in block ...") for the original offset.
type navAt struct {
	nav    any
	offset int
}

// ContextString returns the original navigation's context at the original
// offset, or "".
func (n navAt) ContextString(int) string {
	if cs, ok := n.nav.(interface{ ContextString(int) string }); ok {
		return cs.ContextString(n.offset)
	}
	return ""
}

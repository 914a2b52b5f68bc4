package main

import (
	"fmt"
	"io"
	"strings"
)

// unifiedDiff writes a unified diff (three lines of context) that turns a
// into b, with the file headers "--- old" and "+++ new". It writes nothing
// when a and b are equal.
func unifiedDiff(w io.Writer, oldName, newName, a, b string) error {
	if a == b {
		return nil
	}
	ops := diffLines(splitLines(a), splitLines(b))
	if _, err := fmt.Fprintf(w, "--- %s\n+++ %s\n", oldName, newName); err != nil {
		return err
	}
	for _, h := range hunks(ops, 3) {
		if err := h.write(w); err != nil {
			return err
		}
	}
	return nil
}

// splitLines splits s after each newline; a last line without a newline is
// kept as is.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// op is one line of an edit script: ' ' kept, '-' removed, '+' added.
type op struct {
	kind byte
	line string
	// aLine and bLine are the 1-based numbers the line would have in a and b
	// after this op (the number of lines of each consumed so far, plus one).
	aLine, bLine int
}

// diffLines returns an edit script from a to b built on a longest common
// subsequence. Common prefix and suffix are trimmed first, so a formatting
// change in a large file costs little.
func diffLines(a, b []string) []op {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	// lcs[i][j] is the LCS length of ma[i:] and mb[j:].
	lcs := make([][]int, len(ma)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(mb)+1)
	}
	for i := len(ma) - 1; i >= 0; i-- {
		for j := len(mb) - 1; j >= 0; j-- {
			if ma[i] == mb[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []op
	ai, bi := 0, 0
	emit := func(kind byte, line string) {
		ops = append(ops, op{kind: kind, line: line, aLine: ai + 1, bLine: bi + 1})
		switch kind {
		case ' ':
			ai++
			bi++
		case '-':
			ai++
		case '+':
			bi++
		}
	}
	for _, l := range a[:pre] {
		emit(' ', l)
	}
	i, j := 0, 0
	for i < len(ma) || j < len(mb) {
		switch {
		case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
			emit(' ', ma[i])
			i++
			j++
		case j == len(mb) || (i < len(ma) && lcs[i+1][j] >= lcs[i][j+1]):
			emit('-', ma[i])
			i++
		default:
			emit('+', mb[j])
			j++
		}
	}
	for _, l := range a[len(a)-suf:] {
		emit(' ', l)
	}
	return ops
}

// hunk is a run of ops with its context.
type hunk struct{ ops []op }

// hunks groups the changes in ops with ctx lines of context around each,
// merging groups whose context would touch.
func hunks(ops []op, ctx int) []hunk {
	var out []hunk
	start, end := -1, -1
	for i, o := range ops {
		if o.kind == ' ' {
			continue
		}
		lo, hi := max(i-ctx, 0), min(i+ctx+1, len(ops))
		if start >= 0 && lo <= end {
			end = hi
			continue
		}
		if start >= 0 {
			out = append(out, hunk{ops[start:end]})
		}
		start, end = lo, hi
	}
	if start >= 0 {
		out = append(out, hunk{ops[start:end]})
	}
	return out
}

func (h hunk) write(w io.Writer) error {
	aStart, bStart := h.ops[0].aLine, h.ops[0].bLine
	aLen, bLen := 0, 0
	for _, o := range h.ops {
		if o.kind != '+' {
			aLen++
		}
		if o.kind != '-' {
			bLen++
		}
	}
	// An empty range is numbered by the line before it, as diff -u does.
	if aLen == 0 {
		aStart--
	}
	if bLen == 0 {
		bStart--
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
	for _, o := range h.ops {
		sb.WriteByte(o.kind)
		sb.WriteString(o.line)
		if !strings.HasSuffix(o.line, "\n") {
			sb.WriteString("\n\\ No newline at end of file\n")
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

func hunkRange(start, n int) string {
	if n == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

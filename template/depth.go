package template

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// MaxNestingDepth bounds how deeply brackets, braces, parentheses, strings,
// interpolations, template directives, conditionals and unary operators may
// nest in a template file, a var file, a -var value or a templatefile
// template. HCL's parsers recurse once per level, so deeper input (tens of
// thousands of levels fit in a small file) would overflow the stack; the
// loader checks the depth with a byte scan before parsing.
const MaxNestingDepth = 500

// scanMode is the syntax a nesting scan starts in.
type scanMode int

const (
	scanConfig   scanMode = iota // HCL native syntax: a file or an expression
	scanTemplate                 // an HCL string template (templatefile)
)

// frameKind is what a level of the nesting scan is inside.
type frameKind int

const (
	frameRoot     frameKind = iota // the top level of a file or expression
	frameBracket                   // ( [ {
	frameInterp                    // ${ ... } or %{ ... }
	frameString                    // "..."
	frameHeredoc                   // <<EOT ... EOT
	frameTemplate                  // a whole templatefile template
)

type scanFrame struct {
	kind   frameKind
	marker []byte // a heredoc's closing marker
	start  int    // the offset of a heredoc's <<
	// extra counts the levels that open inside this frame without a closing
	// byte of their own: conditionals (?) of one expression, and open
	// template if/for directives.
	extra int
}

// nestingScanner tracks the nesting depth of HCL native syntax outside
// comments and string literals.
type nestingScanner struct {
	src   []byte
	stack []scanFrame
	depth int // len(stack) + the frames' extra + unary
	unary int // unary operators in a row before an operand
}

// checkNesting returns an error diagnostic at the point where src (HCL
// native syntax, or a string template in scanTemplate mode) nests deeper than
// MaxNestingDepth, or at the start of a heredoc that the file does not end
// (which HCL's parser takes time quadratic in its length to report); nil if
// there is neither.
func checkNesting(src []byte, filename string, mode scanMode) *hcl.Diagnostic {
	root := frameRoot
	if mode == scanTemplate {
		root = frameTemplate
	}
	s := newNestingScanner(src, 0, root)
	if at := s.scan(); at >= 0 {
		return nestingDiagnostic(src, filename, at)
	}
	for _, f := range s.stack {
		if f.kind == frameHeredoc {
			rng := hcl.Range{Filename: filename, Start: posAt(src, f.start)}
			rng.End = posAt(src, f.start+len("<<")+len(f.marker))
			if src[f.start+2] == '-' {
				rng.End = posAt(src, rng.End.Byte+1)
			}
			return &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unterminated heredoc",
				Detail: fmt.Sprintf("The heredoc that starts at %s:%d:%d has no line %s (ended by a newline) that closes it before the end of the file.",
					filename, rng.Start.Line, rng.Start.Column, f.marker),
				Subject: &rng,
			}
		}
	}
	return nil
}

// newNestingScanner returns a scanner of src at depth, in a root frame of
// kind root, which does not count as a level.
func newNestingScanner(src []byte, depth int, root frameKind) *nestingScanner {
	return &nestingScanner{src: src, depth: depth, stack: []scanFrame{{kind: root}}}
}

// checkJSONNesting is checkNesting for HCL's JSON syntax, whose strings are
// also parsed as templates.
func checkJSONNesting(src []byte, filename string) *hcl.Diagnostic {
	depth := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '[', '{':
			if depth++; depth > MaxNestingDepth {
				return nestingDiagnostic(src, filename, i)
			}
		case ']', '}':
			depth = max(depth-1, 0)
		case '"':
			start := i
			for i++; i < len(src) && src[i] != '"'; i++ {
				if src[i] == '\\' {
					i++
				}
			}
			lit := src[start:min(i+1, len(src))]
			if !bytes.ContainsAny(lit, "{\\") {
				continue
			}
			var str string
			if json.Unmarshal(lit, &str) != nil {
				continue // the JSON parser reports it
			}
			if newNestingScanner([]byte(str), depth, frameTemplate).scan() >= 0 {
				return nestingDiagnostic(src, filename, start)
			}
		}
	}
	return nil
}

// parseExpression parses src as an HCL native-syntax expression, once
// checkNesting has passed it.
func parseExpression(src []byte, filename string) (hcl.Expression, hcl.Diagnostics) {
	if d := checkNesting(src, filename, scanConfig); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	return hclsyntax.ParseExpression(src, filename, hcl.InitialPos)
}

func nestingDiagnostic(src []byte, filename string, at int) *hcl.Diagnostic {
	pos := posAt(src, at)
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Nesting too deep",
		Detail: fmt.Sprintf("%s:%d:%d nests brackets, braces, parentheses, strings or expressions more than %d levels deep, which kiln does not parse.",
			filename, pos.Line, pos.Column, MaxNestingDepth),
		Subject: &hcl.Range{Filename: filename, Start: pos, End: posAt(src, min(at+1, len(src)))},
	}
}

// posAt returns the position of byte offset at in src.
func posAt(src []byte, at int) hcl.Pos {
	line := 1 + bytes.Count(src[:at], []byte{'\n'})
	col := at - (bytes.LastIndexByte(src[:at], '\n') + 1)
	return hcl.Pos{Line: line, Column: 1 + len(bytes.Runes(src[at-col:at])), Byte: at}
}

func (s *nestingScanner) push(f scanFrame) bool {
	s.stack = append(s.stack, f)
	s.depth++
	return s.depth <= MaxNestingDepth
}

// pop leaves the innermost frame; the outermost one is never left.
func (s *nestingScanner) pop() {
	if n := len(s.stack); n > 1 {
		s.depth -= 1 + s.stack[n-1].extra
		s.stack = s.stack[:n-1]
	}
}

func (s *nestingScanner) top() *scanFrame {
	return &s.stack[len(s.stack)-1]
}

// addExtra changes the extra levels of f by n, never below zero.
func (s *nestingScanner) addExtra(f *scanFrame, n int) bool {
	n = max(n, -f.extra)
	f.extra += n
	s.depth += n
	return s.depth <= MaxNestingDepth
}

// scan scans the source and returns the offset at which the depth limit is
// crossed, or -1.
func (s *nestingScanner) scan() int {
	src := s.src
	for i := 0; i < len(src); {
		f := s.top()
		if f.kind == frameString || f.kind == frameHeredoc || f.kind == frameTemplate {
			next, ok := s.templateByte(f, i)
			if !ok {
				return i
			}
			i = next
			continue
		}
		c := src[i]
		switch {
		case c == '#' || c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := bytes.Index(src[i+2:], []byte("*/"))
			if end < 0 {
				return -1
			}
			i += 2 + end + 2
			continue
		case c == ' ' || c == '\t' || c == '\r':
			i++
			continue
		}
		if c == '!' || c == '-' {
			if s.unary++; s.depth+s.unary > MaxNestingDepth {
				return i
			}
			i++
			continue
		}
		s.unary = 0
		switch c {
		case '"':
			if !s.push(scanFrame{kind: frameString}) {
				return i
			}
		case '<':
			if marker, next := heredocStart(src, i); marker != nil {
				if !s.push(scanFrame{kind: frameHeredoc, marker: marker, start: i}) {
					return i
				}
				i = next
				continue
			}
		case '(', '[', '{':
			if !s.push(scanFrame{kind: frameBracket}) {
				return i
			}
		case ')', ']', '}':
			s.pop()
		case '?':
			if !s.addExtra(f, 1) {
				return i
			}
		case ',':
			s.addExtra(f, -f.extra) // the next item's conditionals start afresh
		case '\n':
			if f.kind != frameInterp {
				s.addExtra(f, -f.extra) // so do the next attribute's
			}
		}
		i++
	}
	return -1
}

// templateByte scans one element of template text at offset i inside f (a
// string, heredoc or template) and returns the offset after it; ok is false
// when the depth limit is crossed there.
func (s *nestingScanner) templateByte(f *scanFrame, i int) (next int, ok bool) {
	src := s.src
	if f.kind == frameHeredoc && (i == 0 || src[i-1] == '\n') {
		// As in HCL, the closing line must end with a newline.
		if end := bytes.IndexByte(src[i:], '\n'); end >= 0 && bytes.Equal(bytes.TrimSpace(src[i:i+end]), f.marker) {
			s.pop()
			return i + end, true
		}
	}
	c := src[i]
	switch {
	case c == '\\' && f.kind == frameString:
		return i + 2, true
	case c == '"' && f.kind == frameString:
		s.pop()
		return i + 1, true
	case (c == '$' || c == '%') && bytes.HasPrefix(src[i+1:], []byte{c, '{'}):
		return i + 3, true // an escaped $${ or %%{
	case (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == '{':
		if c == '%' {
			switch directive(src[i+2:]) {
			case "if", "for":
				if !s.addExtra(f, 1) {
					return i, false
				}
			case "endif", "endfor":
				s.addExtra(f, -1)
			}
		}
		if !s.push(scanFrame{kind: frameInterp}) {
			return i, false
		}
		return i + 2, true
	}
	return i + 1, true
}

// directive returns the keyword that starts a template directive's body.
func directive(b []byte) string {
	b = bytes.TrimLeft(b, "~ \t\r\n")
	n := 0
	for n < len(b) && (b[n] >= 'a' && b[n] <= 'z') {
		n++
	}
	return string(b[:n])
}

// heredocStart reports whether a heredoc (<<ID or <<-ID and a newline)
// starts at offset i, and returns its marker and the offset after its
// newline.
func heredocStart(src []byte, i int) (marker []byte, next int) {
	j := i + 2
	if !bytes.HasPrefix(src[i:], []byte("<<")) {
		return nil, 0
	}
	if j < len(src) && src[j] == '-' {
		j++
	}
	k := j
	for k < len(src) && isIdentByte(src[k]) {
		k++
	}
	if k == j {
		return nil, 0
	}
	rest := src[k:]
	switch {
	case bytes.HasPrefix(rest, []byte("\n")):
		return src[j:k], k + 1
	case bytes.HasPrefix(rest, []byte("\r\n")):
		return src[j:k], k + 2
	}
	return nil, 0
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

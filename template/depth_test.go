package template

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func TestCheckNesting(t *testing.T) {
	n := func(s string, times int) string { return strings.Repeat(s, times) }
	max := MaxNestingDepth
	tests := []struct {
		name string
		src  string
		mode scanMode
		// at is the line:column of the error, "" for none.
		at string
	}{
		{"brackets at the limit", "x = " + n("[", max) + n("]", max), scanConfig, ""},
		{"brackets over the limit", "x = " + n("[", max+1) + n("]", max+1), scanConfig, "1:505"},
		{"sequential brackets", "x = [" + n("[[1]], ", 1000) + "]", scanConfig, ""},
		{"brackets in a string", `x = "` + n("[", 1000) + `"`, scanConfig, ""},
		{"escaped quote", `x = "\"` + n("[", 1000) + `"`, scanConfig, ""},
		{"brackets in comments", "# " + n("[", 1000) + "\n// " + n("(", 1000) + "\n/* " + n("{", 1000) + " */\nx = 1", scanConfig, ""},
		{"brackets in a heredoc", "x = <<EOT\n" + n("[", 1000) + "\n  EOT\ny = [1]\n", scanConfig, ""},
		{"brackets in an indented heredoc", "x = <<-EOT\n  " + n("{", 1000) + "\n  EOT\n", scanConfig, ""},
		{"escaped interpolations", `x = "` + n("$${", 1000) + `"`, scanConfig, ""},
		{"interpolations", "x = " + n(`"${`, max/2) + "1" + n(`}"`, max/2), scanConfig, ""},
		{"interpolations over the limit", "x = " + n(`"${`, max/2+1) + "1" + n(`}"`, max/2+1), scanConfig, "1:755"},
		{"brackets in a heredoc interpolation", "x = <<EOT\n${" + n("[", max+1) + "}\nEOT\n", scanConfig, "2:501"},
		{"unary operators", "x = " + n("-", max) + "1", scanConfig, ""},
		{"unary operators over the limit", "x = " + n("!", max+1) + "true", scanConfig, "1:505"},
		{"many subtractions", "x = 1" + n(" - 1", 1000), scanConfig, ""},
		{"conditionals in a list", "x = [" + n("true ? 1 : 2, ", 1000) + "]", scanConfig, ""},
		{"conditionals of attributes", "b {\n" + n("x = true ? 1 : 2\n}\nb {\n", 1000) + "}\n", scanConfig, ""},
		{"conditionals over the limit", "x = " + n("true ? 1 : ", max+1) + "2", scanConfig, "1:5510"},
		{"if directives", `x = "` + n("%{ if true }a%{ endif }", 1000) + `"`, scanConfig, ""},
		{"nested if directives", `x = "` + n("%{ if true }", max+1) + `"`, scanConfig, "1:5982"},
		{"template", n("${[", max/2) + n("]}", max/2), scanTemplate, ""},
		{"template over the limit", n("${(", max/2+1), scanTemplate, "1:752"},
		{"template quote is text", n(`"`, 1000), scanTemplate, ""},
		{"unterminated heredoc", "a = 1\nx = <<-EOT\nline\n EOTX\n", scanConfig, "2:5"},
		{"heredoc ended at the end of the file", "x = <<EOT\nline\nEOT\n", scanConfig, ""},
		{"unterminated heredoc: no newline after its marker", "x = <<EOT\nline\nEOT", scanConfig, "1:5"},
		{"heredoc with CRLF", "x = <<EOT\r\nline\r\nEOT\r\n", scanConfig, ""},
		{"unterminated comment", "x = 1 /* " + n("[", 1000), scanConfig, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := checkNesting([]byte(tt.src), "f.pkr.hcl", tt.mode)
			got := ""
			if d != nil {
				got = posString(d.Subject.Start)
			}
			if got != tt.at {
				t.Errorf("error at %q, want %q (%v)", got, tt.at, d)
			}
			// What passes, HCL parses without a nesting problem; what fails
			// HCL would have recursed over.
			if d == nil && tt.mode == scanConfig && len(tt.src) < 20000 {
				if _, diags := hclsyntax.ParseConfig([]byte(tt.src), "f.pkr.hcl", hcl.InitialPos); diags.HasErrors() && !strings.Contains(tt.name, "unterminated") {
					t.Errorf("HCL does not parse the input: %v", diags)
				}
			}
		})
	}
}

func TestCheckJSONNesting(t *testing.T) {
	n := strings.Repeat
	max := MaxNestingDepth
	tests := []struct {
		name, src, at string
	}{
		{"arrays at the limit", `{"x": ` + n("[", max-1) + n("]", max-1) + "}", ""},
		{"arrays over the limit", `{"x": ` + n("[", max) + n("]", max) + "}", "1:506"},
		{"brackets in a string", `{"x": "` + n("[", 1000) + `"}`, ""},
		{"escaped quotes", `{"x": "\"` + n("[", 1000) + `\""}`, ""},
		{"interpolations in a string", `{"x": "` + n(`${(`, max) + `"}`, "1:7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := checkJSONNesting([]byte(tt.src), "f.pkr.json")
			got := ""
			if d != nil {
				got = posString(d.Subject.Start)
			}
			if got != tt.at {
				t.Errorf("error at %q, want %q (%v)", got, tt.at, d)
			}
		})
	}
}

func posString(p hcl.Pos) string {
	return fmt.Sprintf("%d:%d", p.Line, p.Column)
}

package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/template"
)

func runValidate(ctx context.Context, args []string, io stdio) int {
	fs := newFlagSet("validate", "[options] PATH",
		`Checks that a template is valid: that it parses, that every variable has a
value of its type, and that every source, provisioner and post-processor is
known and configured correctly. Nothing is built, and nothing is contacted
unless -evaluate-datasources is given: data sources' values are unknown and
the checks that need them wait for kiln build.
PATH is a template file or a directory of them.`, io)
	var lf loadFlags
	lf.register(fs)
	var only, except globsFlag
	fs.Var(&only, "only", "validate only the builds whose name matches one of these comma-separated `globs`")
	fs.Var(&except, "except", "skip the builds whose name matches one of these comma-separated `globs`")
	syntaxOnly := fs.Bool("syntax-only", false, "only check that the files parse and their declarations, evaluating nothing")
	evaluate := fs.Bool("evaluate-datasources", false, "run the data sources (AMI lookups, parameters, HTTP requests) and check with their values")
	noWarnUndeclared := fs.Bool("no-warn-undeclared-var", false, "do not warn about values in var files for undeclared variables")
	color := fs.Bool("color", true, "colour diagnostics on a terminal")
	if code := parseFlags(fs, args, io); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return usageError(fs, "expected one PATH, got %d", fs.NArg())
	}
	opts := lf.options()
	if *syntaxOnly {
		opts = append(opts, template.WithSyntaxOnly())
	}
	tpl, diags := loadTemplate(fs.Arg(0), opts...)
	if !*syntaxOnly && !diags.HasErrors() {
		if *evaluate {
			diags = append(diags, tpl.EvaluateDataSources(ctx)...)
		}
		diags = append(diags, kiln.Validate(tpl, kiln.WithOnly(only...), kiln.WithExcept(except...))...)
	}
	if *noWarnUndeclared {
		diags = dropUndeclaredWarnings(diags)
	}
	writeDiagnostics(io, tpl, diags, *color)
	if diags.HasErrors() {
		return exitFailed
	}
	if *syntaxOnly {
		fmt.Fprintln(io.out, "The configuration is syntactically valid.")
		return exitOK
	}
	fmt.Fprintln(io.out, "The configuration is valid.")
	return exitOK
}

// dropUndeclaredWarnings removes the warnings about var-file values for
// undeclared variables.
func dropUndeclaredWarnings(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning && strings.Contains(strings.ToLower(d.Summary), "undeclared variable") {
			continue
		}
		out = append(out, d)
	}
	return out
}

// loadTemplate loads the template at path with kiln's embedded plugins.
func loadTemplate(path string, opts ...template.LoadOption) (*template.Template, hcl.Diagnostics) {
	return kiln.Load(path, opts...)
}

// writeDiagnostics prints diags to the error output with snippets, sensitive
// values of tpl masked; color is the -color flag.
func writeDiagnostics(io stdio, tpl *template.Template, diags hcl.Diagnostics, color bool) {
	if len(diags) == 0 {
		return
	}
	tpl.WriteDiagnostics(io.errOut, diags, useColor(color, io.errTTY, io), diagWidth(io))
}

// writeFileDiagnostics prints diags about one file whose contents are src.
func writeFileDiagnostics(io stdio, name string, src []byte, diags hcl.Diagnostics, color bool) {
	files := map[string]*hcl.File{name: {Bytes: src}}
	template.WriteDiagnostics(io.errOut, files, diags, useColor(color, io.errTTY, io), diagWidth(io))
}

// diagWidth is the width diagnostics wrap at: the terminal's, or none.
func diagWidth(io stdio) uint {
	if !io.errTTY {
		return 0
	}
	return uint(max(termWidth(os.Stderr), 0))
}

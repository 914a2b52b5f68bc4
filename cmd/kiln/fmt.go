package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kilnhq/kiln/template"
)

// fmtSuffixes are the file names kiln fmt formats in a directory.
var fmtSuffixes = []string{".pkr.hcl", ".pkrvars.hcl", ".kiln.hcl"}

func runFmt(_ context.Context, args []string, io stdio) int {
	fs := newFlagSet("fmt", "[options] [PATH...]",
		`Rewrites template files (*.pkr.hcl, *.pkrvars.hcl, *.kiln.hcl) in the canonical
format. A PATH is a file or a directory (default: the current directory);
"-" reads standard input and writes the result to standard output.
The names of the files that change are printed.`, io)
	check := fs.Bool("check", false, "write nothing; exit 3 when a file is not formatted")
	diff := fs.Bool("diff", false, "print the changes as a unified diff")
	write := fs.Bool("write", true, "write the result to the source file")
	recursive := fs.Bool("recursive", false, "also format files in subdirectories")
	if code := parseFlags(fs, args, io); code >= 0 {
		return code
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	f := formatter{io: io, check: *check, diff: *diff, write: *write && !*check}
	for _, p := range paths {
		if p == "-" {
			f.stdin()
			continue
		}
		files, err := fmtFiles(p, *recursive)
		if err != nil {
			fmt.Fprintf(io.errOut, "kiln fmt: %v\n", err)
			f.failed = true
			continue
		}
		for _, name := range files {
			f.file(name)
		}
	}
	switch {
	case f.failed:
		return exitFailed
	case f.check && f.changed:
		return exitUnformatted
	}
	return exitOK
}

// fmtFiles lists the files to format under path: path itself when it is a
// file, else the template files of the directory (and of its subdirectories
// with recursive).
func fmtFiles(path string, recursive bool) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		for _, s := range fmtSuffixes {
			if strings.HasSuffix(d.Name(), s) {
				files = append(files, p)
				break
			}
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// formatter formats files and remembers the outcome.
type formatter struct {
	io                 stdio
	check, diff, write bool
	changed, failed    bool
}

func (f *formatter) stdin() {
	src, err := io.ReadAll(f.io.in)
	if err != nil {
		fmt.Fprintf(f.io.errOut, "kiln fmt: read standard input: %v\n", err)
		f.failed = true
		return
	}
	out, ok := f.format(src, "<stdin>")
	if !ok {
		return
	}
	if !bytes.Equal(src, out) {
		f.changed = true
		if f.diff {
			unifiedDiff(f.io.out, "<stdin>", "<stdin> (formatted)", string(src), string(out))
		}
	}
	if !f.check && !f.diff {
		f.io.out.Write(out)
	}
}

func (f *formatter) file(name string) {
	src, err := template.ReadFile(name)
	if err != nil {
		fmt.Fprintf(f.io.errOut, "kiln fmt: %v\n", err)
		f.failed = true
		return
	}
	out, ok := f.format(src, name)
	if !ok || bytes.Equal(src, out) {
		return
	}
	f.changed = true
	fmt.Fprintln(f.io.out, name)
	if f.diff {
		unifiedDiff(f.io.out, "old/"+filepath.ToSlash(name), "new/"+filepath.ToSlash(name), string(src), string(out))
	}
	if f.write {
		if err := writeFileKeepMode(name, out); err != nil {
			fmt.Fprintf(f.io.errOut, "kiln fmt: %v\n", err)
			f.failed = true
		}
	}
}

// format formats src, printing its diagnostics; ok is false when src could
// not be parsed.
func (f *formatter) format(src []byte, name string) (out []byte, ok bool) {
	out, diags := template.Format(src, name)
	if len(diags) > 0 {
		writeFileDiagnostics(f.io, name, src, diags, true)
	}
	if diags.HasErrors() {
		f.failed = true
		return nil, false
	}
	return out, true
}

// writeFileKeepMode replaces the contents of name, keeping its mode.
func writeFileKeepMode(name string, data []byte) error {
	st, err := os.Stat(name)
	if err != nil {
		return err
	}
	return os.WriteFile(name, data, st.Mode().Perm())
}

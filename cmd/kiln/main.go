package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitUnformatted = 3
	// exitInterrupted ends a command stopped by SIGINT, SIGTERM or SIGHUP:
	// 128 + SIGINT, whichever signal it was, so that a script checks one code.
	exitInterrupted = 130
)

// interruptSignals stop a command cleanly: Ctrl-C (SIGINT), a supervisor's
// SIGTERM, and SIGHUP from a terminal that was closed or an SSH session to a
// CI machine that dropped.
var interruptSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

const usageText = `Usage: kiln <command> [options] [args]

Bake machine images from Packer-style HCL2 templates.

Commands:
  build      Build images from a template
  validate   Check that a template is valid
  fmt        Rewrite template files in the canonical format
  inspect    Show a template's variables, locals, sources and builds
  images     List, promote, roll back and prune the versions of an image family
  clean      Remove temporary cloud resources that killed builds left behind
  version    Print kiln's version

Run "kiln <command> -h" for the options of a command.
`

// stdio is where a command reads and writes; tests substitute buffers.
type stdio struct {
	in          io.Reader
	out, errOut io.Writer
	// outTTY, errTTY and inTTY say which of them are terminals.
	outTTY, errTTY, inTTY bool
	// getenv reads the environment (NO_COLOR, TERM).
	getenv func(string) string
}

func main() {
	// Once the terminal is gone (SIGHUP), writing to it fails. A write to a
	// closed pipe must fail too, not kill kiln before its cleanup: the
	// renderers drop what they cannot write.
	signal.Ignore(syscall.SIGPIPE)
	io := stdio{in: os.Stdin, out: os.Stdout, errOut: os.Stderr,
		outTTY: isTerminal(os.Stdout), errTTY: isTerminal(os.Stderr), inTTY: isTerminal(os.Stdin), getenv: os.Getenv}
	os.Exit(run(context.Background(), os.Args[1:], io))
}

// commands maps each command's name to the function that runs it; usageText
// lists them.
var commands = map[string]func(ctx context.Context, args []string, io stdio) int{
	"build":    runBuild,
	"validate": runValidate,
	"fmt":      runFmt,
	"inspect":  runInspect,
	"images":   runImages,
	"clean":    runClean,
	"version":  runVersion,
}

// run runs the command named by args[0] and returns the exit code.
func run(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprint(io.errOut, usageText)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(io.out, usageText)
		return exitOK
	case "-v", "-version", "--version":
		name = "version"
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(io.errOut, "kiln: unknown command %q\n\n%s", name, usageText)
		return exitUsage
	}
	return cmd(ctx, args[1:], io)
}

// newFlagSet returns a flag set for a command whose usage line is usage and
// whose description is desc; -h prints both and the options to io.out.
func newFlagSet(name, usage, desc string, io stdio) *flag.FlagSet {
	fs := flag.NewFlagSet("kiln "+name, flag.ContinueOnError)
	fs.SetOutput(io.errOut)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", strings.TrimSpace("kiln "+name+" "+usage), desc)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintf(w, "\nOptions:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args into fs. It returns the exit code to stop with, or
// -1 to go on: -h prints the usage to out and stops with 0, a bad flag stops
// with exitUsage.
func parseFlags(fs *flag.FlagSet, args []string, io stdio) int {
	// Parse prints the usage itself, to the error output; the usage asked
	// for with -h belongs on the standard output.
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(io.out)
		fs.Usage()
		fs.SetOutput(io.errOut)
		return exitOK
	case err != nil:
		fmt.Fprintln(fs.Output())
		fs.Usage()
		return exitUsage
	}
	return -1
}

// usageError prints msg and the command's usage and returns exitUsage.
func usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(fs.Output(), "%s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return exitUsage
}

// listFlag is a repeatable string flag (-var a=1 -var b=2).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// globsFlag is a repeatable flag of comma-separated globs, as Packer's
// -only and -except take them.
type globsFlag []string

func (g *globsFlag) String() string { return strings.Join(*g, ",") }

func (g *globsFlag) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*g = append(*g, p)
		}
	}
	return nil
}

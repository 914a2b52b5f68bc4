//go:build unix

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
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/build"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/template"
)

// vars collects repeated -var flags.
type vars []string

func (v *vars) String() string     { return strings.Join(*v, ",") }
func (v *vars) Set(s string) error { *v = append(*v, s); return nil }

func main() {
	var assignments vars
	flag.Var(&assignments, "var", "set a template variable: name=value (repeatable)")
	force := flag.Bool("force", false, "replace the tarball of an earlier build")
	validateOnly := flag.Bool("validate", false, "check the template without building")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: custom-builder [-var name=value]... [-force] [-validate] TEMPLATE")
		os.Exit(2)
	}
	if *validateOnly {
		os.Exit(validate(flag.Arg(0), assignments, os.Stdout, os.Stderr))
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	go onInterrupt(cancel, stop)
	os.Exit(run(ctx, flag.Arg(0), assignments, os.Stdout, os.Stderr,
		kiln.WithForce(*force), kiln.WithCleanupStop(stop)))
}

// onInterrupt cancels the build on the first interrupt and stops its
// cleanup on the second.
func onInterrupt(cancel context.CancelFunc, stop chan<- struct{}) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	cancel()
	<-sig
	close(stop)
}

// registries returns kiln's own components with the scratch builder added.
func registries() build.Registries {
	reg := kiln.DefaultRegistries()
	reg.Builders.Register(scratchType, newScratch)
	return reg
}

// validate checks the template at path against the registries with the
// scratch builder, printing every problem with its location, and returns
// the exit status: 0 when it is valid, 2 otherwise.
func validate(path string, assignments []string, out, errOut io.Writer) int {
	tpl, diags := kiln.Load(path, template.WithVars(assignments...))
	if !diags.HasErrors() {
		diags = append(diags, kiln.Validate(tpl, kiln.WithRegistries(registries()))...)
	}
	if len(diags) > 0 {
		tpl.WriteDiagnostics(errOut, diags, false, 0)
	}
	if diags.HasErrors() {
		return 2
	}
	fmt.Fprintln(out, "The configuration is valid.")
	return 0
}

// run builds the template at path, rendering its events to out and its
// diagnostics to errOut, and returns the exit status: 0 when every build
// succeeded, 1 when one failed, 2 for a template with errors, 130 when ctx
// was cancelled.
func run(ctx context.Context, path string, assignments []string, out, errOut io.Writer, opts ...kiln.Option) int {
	tpl, diags := kiln.Load(path, template.WithVars(assignments...))
	if diags.HasErrors() {
		tpl.WriteDiagnostics(errOut, diags, false, 0)
		return 2
	}
	opts = append([]kiln.Option{kiln.WithRegistries(registries()), kiln.WithEvents(render(out))}, opts...)
	res, err := kiln.Build(ctx, tpl, opts...)
	if res == nil {
		var planDiags hcl.Diagnostics
		if errors.As(err, &planDiags) {
			tpl.WriteDiagnostics(errOut, planDiags, false, 0)
			return 2
		}
		fmt.Fprintln(errOut, err)
		return 1
	}
	fmt.Fprintln(out)
	for _, b := range res.Builds {
		status := "succeeded"
		if b.Err != nil {
			status = "failed: " + b.Err.Error()
		}
		fmt.Fprintf(out, "--> %s: %s in %s\n", b.Name, status, b.Duration.Round(time.Millisecond))
		for _, a := range b.Artifacts {
			fmt.Fprintf(out, "    %s: %s\n", b.Name, a)
		}
	}
	switch {
	case ctx.Err() != nil:
		return 130
	case err != nil:
		return 1
	}
	return 0
}

// render returns a sink that writes events as lines in the style of kiln
// build. kiln delivers a run's events one at a time, so it needs no lock.
func render(w io.Writer) event.Sink {
	return event.SinkFunc(func(e event.Event) {
		name := e.EventMeta().Build
		switch e := e.(type) {
		case *event.BuildStarted:
			fmt.Fprintf(w, "==> %s: starting (%s)\n", name, e.BuilderType)
		case *event.StepStarted:
			fmt.Fprintf(w, "==> %s: %s\n", name, e.Step)
		case *event.StepFinished:
			if e.Error != "" {
				fmt.Fprintf(w, "==> %s: %s failed: %s\n", name, e.Step, e.Error)
			}
		case *event.Output:
			fmt.Fprintf(w, "    %s: %s\n", name, e.Line)
		case *event.Message:
			if e.Level == event.Info {
				fmt.Fprintf(w, "==> %s: %s\n", name, e.Text)
			} else {
				fmt.Fprintf(w, "==> %s: %s: %s\n", name, e.Level, e.Text)
			}
		case *event.UndoStarted:
			fmt.Fprintf(w, "==> %s: removing %s\n", name, e.What)
		case *event.UndoFinished:
			if e.Error != "" {
				fmt.Fprintf(w, "==> %s: could not remove %s: %s\n", name, e.What, e.Error)
			}
		case *event.LeftBehind:
			fmt.Fprintf(w, "==> %s: LEFT BEHIND (remove it yourself): %s\n", name, e.What)
		case *event.ArtifactCreated:
			fmt.Fprintf(w, "==> %s: artifact: %s\n", name, e.Description)
		case *event.BuildFinished:
			switch {
			case e.Cancelled:
				fmt.Fprintf(w, "==> %s: cancelled after %s\n", name, e.Duration.Round(time.Millisecond))
			case e.Error != "":
				fmt.Fprintf(w, "==> %s: failed after %s\n", name, e.Duration.Round(time.Millisecond))
			default:
				fmt.Fprintf(w, "==> %s: finished in %s\n", name, e.Duration.Round(time.Millisecond))
			}
		}
	})
}

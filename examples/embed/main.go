// Command embed builds images from a template with the kiln library instead
// of the kiln command: it loads the template, builds it, and handles the
// build's events itself, here as compact log lines and a final report.
//
//	go run ./examples/embed examples/multi
//	go run ./examples/embed -var environment=production -only 'app.*' examples/multi
//
// Ctrl-C cancels the builds; kiln still removes every temporary resource
// before Build returns.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln"
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
	only := flag.String("only", "", "build only the builds matching this glob")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: embed [-var name=value]... [-only GLOB] TEMPLATE")
		os.Exit(2)
	}
	os.Exit(run(flag.Arg(0), assignments, *only))
}

func run(path string, assignments []string, only string) int {
	tpl, diags := kiln.Load(path, template.WithVars(assignments...))
	if diags.HasErrors() {
		tpl.WriteDiagnostics(os.Stderr, diags, false, 0)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// The handler is called from several goroutines when builds run in
	// parallel; kiln serializes the calls, but the step times it keeps
	// are read after Build returns, so they get a lock anyway.
	var mu sync.Mutex
	steps := map[string][]string{}
	logger := log.New(os.Stdout, "", log.Ltime|log.Lmicroseconds)
	handler := event.SinkFunc(func(e event.Event) {
		switch e := e.(type) {
		case *event.BuildStarted:
			logger.Printf("%s: started (%s)", e.Build, e.BuilderType)
		case *event.Output:
			logger.Printf("%s: %s", e.Build, e.Line)
		case *event.StepFinished:
			mu.Lock()
			steps[e.Build] = append(steps[e.Build], fmt.Sprintf("%s %s", e.Step, e.Duration.Round(time.Millisecond)))
			mu.Unlock()
			if e.Error != "" {
				logger.Printf("%s: step %s failed: %s", e.Build, e.Step, e.Error)
			}
		case *event.ArtifactCreated:
			logger.Printf("%s: artifact %s", e.Build, e.ID)
		case *event.LeftBehind:
			logger.Printf("%s: LEFT BEHIND %s", e.Build, e.What)
		case *event.Message:
			if e.Level != event.Info {
				logger.Printf("%s: %s: %s", e.Build, e.Level, e.Text)
			}
		}
	})

	opts := []kiln.Option{kiln.WithEvents(handler), kiln.WithParallelBuilds(2)}
	if only != "" {
		opts = append(opts, kiln.WithOnly(only))
	}
	res, err := kiln.Build(ctx, tpl, opts...)
	var planDiags hcl.Diagnostics
	if res == nil && errors.As(err, &planDiags) {
		tpl.WriteDiagnostics(os.Stderr, planDiags, false, 0)
		return 2
	}

	mu.Lock()
	defer mu.Unlock()
	failed := 0
	for _, b := range res.Builds {
		status := "ok"
		if b.Err != nil {
			status = "FAILED: " + b.Err.Error()
			failed++
		}
		fmt.Printf("%-24s %-8s %s\n", b.Name, b.Duration.Round(time.Millisecond), status)
		fmt.Printf("%-24s steps: %s\n", "", strings.Join(steps[b.Name], ", "))
		for _, a := range b.Artifacts {
			fmt.Printf("%-24s artifact %s (%s)\n", "", a.ID(), a.BuilderType())
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

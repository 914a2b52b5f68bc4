package kiln_test

import (
	"context"
	"fmt"
	"os"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/template"
)

// Load a template, run its builds and handle the events they emit: here,
// print the output of commands and each artifact.
func ExampleBuild() {
	tpl, diags := kiln.Load("testdata/hello", template.WithVars("greeting=hi there"))
	if diags.HasErrors() {
		tpl.WriteDiagnostics(os.Stderr, diags, false, 80)
		return
	}
	handler := event.SinkFunc(func(e event.Event) {
		switch e := e.(type) {
		case *event.Output:
			fmt.Printf("%s: %s\n", e.Build, e.Line)
		case *event.BuildFinished:
			fmt.Printf("%s: finished, error %q\n", e.Build, e.Error)
		}
	})
	res, err := kiln.Build(context.Background(), tpl, kiln.WithEvents(handler))
	if err != nil {
		fmt.Println("build failed:", err)
		return
	}
	for _, b := range res.Builds {
		for _, a := range b.Artifacts {
			fmt.Printf("%s: artifact %s (%s)\n", b.Name, a.ID(), a.BuilderType())
		}
	}
	// Output:
	// hello.null.local: hi there
	// hello.null.local: finished, error ""
	// hello.null.local: artifact Null (null)
}

// Validate reports every problem of a template at once, each at its place
// in the files, with a suggestion for misspelt component types.
func ExampleValidate() {
	tpl, diags := kiln.Load("testdata/invalid")
	if !diags.HasErrors() {
		diags = kiln.Validate(tpl)
	}
	for _, d := range diags {
		fmt.Printf("line %d: %s\n", d.Subject.Start.Line, d.Detail)
	}
	// Output:
	// line 1: kiln has no builder named "nul"; did you mean "null"?
	// line 8: kiln has no provisioner named "shel-local"; did you mean "shell-local"?
}

package kiln_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/family"
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

// Work with the versions of an image family kept below a local output
// root: list them with their channels and point a channel at one.
func ExampleOpenCatalog() {
	root, err := os.MkdirTemp("", "output-web")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(root)
	for _, v := range []string{"1.0.0", "1.1.0"} { // what two builds of family web left
		dir := filepath.Join(root, "web-"+v)
		os.Mkdir(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "web-"+v+".qcow2"), nil, 0o644)
		family.WriteSidecar(dir, family.Sidecar{Family: "web", Version: v, Name: "web-" + v, Files: []string{"web-" + v + ".qcow2"}})
	}

	ctx := context.Background()
	cat, err := kiln.OpenCatalog(ctx, kiln.CatalogOptions{Dir: root})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := cat.Promote(ctx, "web", "1.1.0", "stable"); err != nil {
		fmt.Println(err)
		return
	}
	imgs, err := cat.Images(ctx, "web")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, img := range imgs {
		fmt.Println(img.Version, img.Name, img.Channels)
	}
	// Output:
	// 1.0.0 web-1.0.0 []
	// 1.1.0 web-1.1.0 [stable]
}

// Look for what builds killed before their own cleanup left behind in two
// AWS regions, without removing it: the events name each resource, the
// report lists them with their builder and kind.
func ExampleClean() {
	show := event.SinkFunc(func(e event.Event) {
		if m, ok := e.(*event.Message); ok {
			fmt.Println(m.Text)
		}
	})
	rep, err := kiln.Clean(context.Background(), kiln.CleanOptions{
		AWS:    kiln.AWS{Regions: []string{"us-east-1", "eu-west-1"}},
		DryRun: true,
		Events: show,
	})
	if rep != nil {
		fmt.Printf("%d to remove; %d builds still running, left alone\n", len(rep.Removed), len(rep.LiveBuilds))
	}
	if err != nil {
		fmt.Println("clean:", err)
	}
}

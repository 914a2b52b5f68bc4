package kiln_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/step"
)

// slowCleanupBuilder creates a "volume" whose removal never finishes by
// itself, then waits for the build to be cancelled.
type slowCleanupBuilder struct {
	started chan struct{}
}

func (b *slowCleanupBuilder) Run(ctx context.Context, env *builder.Env, _ builder.Hook) (artifact.Artifact, error) {
	type state struct{}
	return nil, step.Run(ctx, env.Runner(env.Events), &state{},
		step.Step[state]{Name: "create", Run: func(ctx context.Context, _ *state, u *step.Undo) error {
			u.Push("volume vol-1", func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			})
			u.Push("instance i-1", func(context.Context) error { return nil })
			close(b.started)
			<-ctx.Done()
			return ctx.Err()
		}})
}

// TestBuildInterruptAndStopCleanup does what the CLI does on two Ctrl-C:
// cancel the build, then stop its cleanup; what was not removed is reported.
func TestBuildInterruptAndStopCleanup(t *testing.T) {
	dir := writeTemplate(t, `
source "slow" "x" {}
build {
  sources = ["source.slow.x"]
}
`)
	reg := kiln.DefaultRegistries()
	b := &slowCleanupBuilder{started: make(chan struct{})}
	reg.Builders.Register("slow", func(hcl.Body, *hcl.EvalContext) (builder.Builder, hcl.Diagnostics) { return b, nil })
	tpl, diags := kiln.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	rec := &eventtest.Recorder{}
	go func() {
		<-b.started
		cancel() // first interrupt
		wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer wcancel()
		if _, err := rec.Wait(wctx, func(e event.Event) bool {
			u, ok := e.(*event.UndoStarted)
			return ok && u.What == "volume vol-1"
		}); err != nil {
			t.Errorf("the volume's undo never started: %v", err)
		}
		close(stop) // second interrupt
	}()
	done := make(chan struct{})
	var res any
	var err error
	go func() {
		defer close(done)
		res, err = kiln.Build(ctx, tpl, kiln.WithRegistries(reg), kiln.WithEvents(rec), kiln.WithCleanupStop(stop))
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("cleanup was not stopped")
	}
	if !errors.Is(err, context.Canceled) || res == nil {
		t.Fatalf("Build = %v, %v; want a cancelled build", res, err)
	}
	var removed, left []string
	cancelled := false
	for _, e := range rec.Events() {
		switch e := e.(type) {
		case *event.UndoFinished:
			if e.Error == "" {
				removed = append(removed, e.What)
			}
		case *event.LeftBehind:
			left = append(left, e.What)
		case *event.BuildFinished:
			cancelled = e.Cancelled
		}
	}
	if !slices.Equal(removed, []string{"instance i-1"}) || !slices.Equal(left, []string{"volume vol-1"}) || !cancelled {
		t.Errorf("removed %v, left %v, cancelled %v", removed, left, cancelled)
	}
}

func TestLoadAcceptsEmbeddedPlugins(t *testing.T) {
	dir := writeTemplate(t, `
packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.2.0"
    }
    qemu = {
      source  = "github.com/hashicorp/qemu"
      version = ">= 1.0.0"
    }
  }
}
source "null" "x" { communicator = "none" }
build { sources = ["source.null.x"] }
`)
	if _, diags := kiln.Load(dir); diags.HasErrors() {
		t.Errorf("required_plugins for embedded components: %v", diags)
	}
	const docker = `
packer {
  required_plugins {
    docker = {
      source  = "github.com/hashicorp/docker"
      version = ">= 1.0.0"
    }
  }
}
source "null" "x" { communicator = "none" }
build { sources = ["source.null.x"] }
`
	dir = writeTemplate(t, docker)
	// A plugin kiln does not embed is a warning while none of its
	// components is used...
	if _, diags := kiln.Load(dir); diags.HasErrors() || len(diags) != 1 || diags[0].Severity != hcl.DiagWarning {
		t.Errorf("an unused plugin kiln does not embed: %v, want one warning", diags)
	}
	// ...and an error once one is.
	dir = writeTemplate(t, docker+`source "docker" "d" { image = "debian" }
`)
	if _, diags := kiln.Load(dir); !diags.HasErrors() || !strings.Contains(diags.Error(), `source "docker"`) {
		t.Errorf("a used plugin kiln does not embed: %v", diags)
	}
}

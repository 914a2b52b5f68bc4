package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/clock"
	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/kilnhq/kiln/postprocessor"
	"github.com/kilnhq/kiln/provisioner"
	"github.com/kilnhq/kiln/step"
	"github.com/kilnhq/kiln/template"
)

// world holds what the fake components did in one test.
type world struct {
	mu        sync.Mutex
	commands  []string // every command run over a fake communicator, "BUILD: cmd"
	attempts  map[string]int
	destroyed []string
	running   int // builders running now
	maxRun    int
	// gate, when set, holds every fake builder until it is closed or the
	// build's context ends.
	gate chan struct{}
	// raced is set once a family builder played another runner.
	raced bool
	// decodes counts how often a family builder (localfam) was decoded.
	decodes int
}

func (w *world) record(cmd string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.commands = append(w.commands, cmd)
}

func (w *world) recorded() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.commands)
}

// registries returns registries of fake components acting on w.
func (w *world) registries() Registries {
	reg := Registries{
		Builders:       builder.NewRegistry(),
		Provisioners:   provisioner.NewRegistry(),
		PostProcessors: postprocessor.NewRegistry(),
	}
	reg.Builders.Register("fake", func(body hcl.Body, ectx *hcl.EvalContext) (builder.Builder, hcl.Diagnostics) {
		b := &fakeBuilder{w: w}
		return b, hclconf.Decode(body, ectx, &b.cfg)
	})
	reg.Provisioners.Register("record", func(body hcl.Body, ectx *hcl.EvalContext) (provisioner.Provisioner, hcl.Diagnostics) {
		p := &recordProvisioner{w: w}
		return p, hclconf.Decode(body, ectx, &p.cfg)
	})
	reg.PostProcessors.Register("wrap", func(body hcl.Body, ectx *hcl.EvalContext) (postprocessor.PostProcessor, hcl.Diagnostics) {
		p := &wrapPostProcessor{w: w}
		return p, hclconf.Decode(body, ectx, &p.cfg)
	})
	return reg
}

type fakeBuilder struct {
	w   *world
	cfg struct {
		ID       string `hcl:"instance_id,optional"`
		Password string `hcl:"password,optional"`
		Fail     string `hcl:"fail,optional"`
		NoImage  bool   `hcl:"no_image,optional"`
		// StepFails runs one failing step through the step runner, under
		// the build's on-error policy.
		StepFails bool `hcl:"step_fails,optional"`
		// Reports names build.* values the builder reports beyond every
		// build's (builder.DataNamer).
		Reports []string `hcl:"reports,optional"`
	}
}

func (b *fakeBuilder) BuildDataNames() []string { return b.cfg.Reports }

func (b *fakeBuilder) Run(ctx context.Context, env *builder.Env, hook builder.Hook) (artifact.Artifact, error) {
	w := b.w
	w.mu.Lock()
	w.running++
	w.maxRun = max(w.maxRun, w.running)
	gate := w.gate
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running--
		w.mu.Unlock()
	}()
	if b.cfg.Fail != "" {
		return nil, errors.New(b.cfg.Fail)
	}
	if b.cfg.StepFails {
		type state struct{}
		return nil, step.Run(ctx, env.Runner(env.Events), &state{},
			step.Step[state]{Name: "launch", Run: func(context.Context, *state, *step.Undo) error { return errors.New("no capacity") }})
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait at gate: %w", ctx.Err())
		}
	}
	comm := &fakeComm{w: w, build: env.Info.Name}
	data := map[string]string{"ID": b.cfg.ID, "Host": "127.0.0.1", "ConnType": "ssh", "Password": b.cfg.Password}
	if err := hook.Provision(ctx, comm, data); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	if b.cfg.NoImage {
		return nil, nil
	}
	return &fakeArtifact{w: w, id: b.cfg.ID, typ: "fake"}, nil
}

// fakeComm records commands; a command "exit N" fails with status N, one
// starting with "fail " fails with the command as the error.
type fakeComm struct {
	w     *world
	build string
}

func (c *fakeComm) Run(_ context.Context, cmd *communicator.Cmd) error {
	c.w.record(c.build + ": " + cmd.Command)
	if strings.HasPrefix(cmd.Command, "fail ") {
		return errors.New(cmd.Command)
	}
	var status int
	if _, err := fmt.Sscanf(cmd.Command, "exit %d", &status); err == nil && status != 0 {
		return &communicator.ExitError{Command: cmd.Command, Status: status}
	}
	if cmd.Stdout != nil {
		fmt.Fprintln(cmd.Stdout, cmd.Command)
	}
	return nil
}

func (c *fakeComm) Upload(context.Context, string, io.Reader, int64, fs.FileMode) error {
	return errors.New("fake: no uploads")
}

func (c *fakeComm) Download(context.Context, string, io.Writer) error {
	return errors.New("fake: no downloads")
}

// recordProvisioner runs its command over the communicator and emits it
// as output.
type recordProvisioner struct {
	w   *world
	cfg struct {
		Command string `hcl:"command"`
		// FailTimes makes the first N attempts fail.
		FailTimes int           `hcl:"fail_times,optional"`
		Sleep     time.Duration `hcl:"sleep,optional"`
	}
}

func (p *recordProvisioner) Provision(ctx context.Context, env *provisioner.Env, comm communicator.Communicator) error {
	w := p.w
	w.mu.Lock()
	if w.attempts == nil {
		w.attempts = map[string]int{}
	}
	w.attempts[p.cfg.Command]++
	n := w.attempts[p.cfg.Command]
	w.mu.Unlock()
	if n <= p.cfg.FailTimes {
		return fmt.Errorf("attempt %d failed", n)
	}
	if p.cfg.Sleep > 0 {
		if err := clock.Sleep(ctx, p.cfg.Sleep); err != nil {
			return fmt.Errorf("sleep: %w", err)
		}
	}
	env.Events.Emit(&event.Output{Source: env.Source, Stream: "stdout", Line: p.cfg.Command})
	return comm.Run(ctx, &communicator.Cmd{Command: p.cfg.Command})
}

// wrapPostProcessor returns a new artifact whose ID is the input's with a
// suffix; with pass = true it returns its input.
type wrapPostProcessor struct {
	w   *world
	cfg struct {
		Suffix string `hcl:"suffix,optional"`
		Keep   bool   `hcl:"keep,optional"`
		Pass   bool   `hcl:"pass,optional"`
		Fail   bool   `hcl:"fail,optional"`
	}
}

func (p *wrapPostProcessor) PostProcess(_ context.Context, _ *postprocessor.Env, in artifact.Artifact) (artifact.Artifact, bool, error) {
	if p.cfg.Fail {
		return nil, false, errors.New("upload refused")
	}
	if p.cfg.Pass {
		return in, true, nil
	}
	return &fakeArtifact{w: p.w, id: in.ID() + p.cfg.Suffix, typ: "wrap"}, p.cfg.Keep, nil
}

type fakeArtifact struct {
	w       *world
	id, typ string
}

func (a *fakeArtifact) BuilderType() string { return a.typ }
func (a *fakeArtifact) ID() string          { return a.id }
func (a *fakeArtifact) Files() []string     { return nil }
func (a *fakeArtifact) String() string      { return a.typ + " " + a.id }
func (a *fakeArtifact) Destroy(context.Context) error {
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	a.w.destroyed = append(a.w.destroyed, a.id)
	return nil
}

// load writes src as t.pkr.hcl in a new directory and loads it.
func load(t *testing.T, src string, opts ...template.LoadOption) *template.Template {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, diags := template.Load(dir, opts...)
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	return tpl
}

// plan loads src and plans every build, failing on any error.
func plan(t *testing.T, w *world, src string, opts ...template.LoadOption) (*template.Template, []*Build) {
	t.Helper()
	tpl := load(t, src, opts...)
	builds, diags := Plan(tpl, w.registries(), nil, nil)
	if diags.HasErrors() {
		t.Fatalf("plan: %v", diags)
	}
	return tpl, builds
}

// kinds returns "kind build" for each event, optionally only those of the
// given kinds.
func kinds(ev *eventtest.Recorder, only ...string) []string {
	var out []string
	for _, e := range ev.Events() {
		if len(only) > 0 && !slices.Contains(only, e.Kind()) {
			continue
		}
		out = append(out, strings.TrimSpace(e.Kind()+" "+e.EventMeta().Build))
	}
	return out
}

// messages returns "level: text" for each message.
func messages(ev *eventtest.Recorder) []string {
	var out []string
	for _, m := range eventtest.Of[*event.Message](ev) {
		out = append(out, string(m.Level)+": "+m.Text)
	}
	return out
}

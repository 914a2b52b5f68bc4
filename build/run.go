package build

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/family"
	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/kilnhq/kiln/step"
	"github.com/kilnhq/kiln/template"
)

// Options says how Run runs builds.
type Options struct {
	// Events receives every event of the run, one at a time (Run
	// serializes them), with the template's sensitive values redacted.
	// Nil drops them.
	Events event.Sink
	// Parallel bounds how many builds run at once; 0 means no bound.
	Parallel int
	// OnError is the on-error policy; "" means step.Cleanup.
	OnError step.Policy
	// Ask answers the step.Ask policy. Run lets one build ask at a time.
	Ask step.Asker
	// CleanupStop, when closed, stops the cleanup of builds whose context
	// was cancelled; what is not removed yet is reported as
	// event.LeftBehind (step.Runner.Stop).
	CleanupStop <-chan struct{}
	// Force and Debug are handed to builders (kiln build -force, -debug).
	Force, Debug bool
	// FailFast cancels the other builds as soon as one fails.
	FailFast bool
	// RunID identifies the run (Packer's packer_run_uuid); "" makes one.
	RunID string
	// KilnVersion is kiln's version, for the lineage tags and the inputs
	// digest of family builds.
	KilnVersion string
}

// Result is the outcome of Run.
type Result struct {
	RunID string
	// Builds holds one result per build given to Run, in the same order.
	Builds []BuildResult
}

// BuildResult is the outcome of one build.
type BuildResult struct {
	// Name is the build's full name.
	Name string
	// Artifacts are what the build left: the builder's artifact (unless
	// every post-processor chain discarded it) and what post-processors made.
	Artifacts []artifact.Artifact
	// Err is nil when the build succeeded.
	Err      error
	Duration time.Duration
}

// Err returns nil when every build succeeded, or an error that lists each
// failed build with its error.
func (r *Result) Err() error {
	var errs []error
	for _, b := range r.Builds {
		if b.Err != nil {
			errs = append(errs, fmt.Errorf("build %s: %w", b.Name, b.Err))
		}
	}
	return errors.Join(errs...)
}

// Run runs builds (from Plan on tpl) in parallel, at most opts.Parallel at a
// time, starting them in order, and returns when all have ended. A failed build does not stop the
// others unless opts.FailFast. Each build runs its builder, which calls back
// into the build's provisioners, then its post-processor chains.
//
// Events go to opts.Events: RunStarted, then for each build BuildStarted,
// what its components emit, ArtifactCreated for each artifact and
// BuildFinished, and RunFinished last; a build that never started because
// the run was cancelled gets only a BuildFinished. Every value tpl marks sensitive, and
// the passwords and private keys builders report, are redacted from them.
func Run(ctx context.Context, tpl *template.Template, builds []*Build, opts Options) *Result {
	start := time.Now()
	sink := opts.Events
	if sink == nil {
		sink = event.Discard
	}
	sink = event.Redact(event.Serialize(sink), tpl.SensitiveValues())
	if opts.RunID == "" {
		opts.RunID = uuid.NewString()
	}
	if opts.Ask != nil {
		opts.Ask = &oneAtATime{a: opts.Ask}
	}
	res := &Result{RunID: opts.RunID, Builds: make([]BuildResult, len(builds))}
	names := make([]string, len(builds))
	for i, b := range builds {
		names[i] = b.Name
		res.Builds[i].Name = b.Name
	}
	sink.Emit(&event.RunStarted{Meta: event.Meta{Time: start}, RunID: opts.RunID, Builds: names})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var sem chan struct{}
	if opts.Parallel > 0 {
		sem = make(chan struct{}, opts.Parallel)
	}
	var wg sync.WaitGroup
	for i, b := range builds {
		secrets := newSecretSink(sink)
		r := &runner{tpl: tpl, b: b, opts: opts, secrets: secrets, sink: event.ForBuild(secrets, b.Name)}
		// Builds start in their order: with a bound, the next waits here
		// for a free slot.
		acquired := false
		if sem != nil {
			select {
			case sem <- struct{}{}:
				acquired = true
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			if acquired {
				<-sem
			}
			res.Builds[i] = r.notStarted(ctx)
			continue
		}
		wg.Go(func() {
			if acquired {
				defer func() { <-sem }()
			}
			res.Builds[i] = r.run(ctx)
			if res.Builds[i].Err != nil && opts.FailFast {
				cancel()
			}
		})
	}
	wg.Wait()

	var failed []string
	for _, b := range res.Builds {
		if b.Err != nil {
			failed = append(failed, b.Name)
		}
	}
	sink.Emit(&event.RunFinished{Meta: event.Meta{Time: time.Now()}, Duration: time.Since(start), Failed: failed})
	return res
}

// runner runs one build.
type runner struct {
	tpl  *template.Template
	b    *Build
	opts Options
	// sink stamps events with the build's name; secrets redacts them.
	sink    event.Sink
	secrets *secretSink
	info    builder.Info
	// data is what the builder reported to the hook, with the engine's
	// defaults: build.* for provisioners and post-processors, which are
	// decoded in ectx.
	data map[string]string
	ectx *hcl.EvalContext
	// version is family.version in ectx, in a build with a family block
	// (setVersion).
	version string
}

// setData sets build.* from what the builder reported.
func (r *runner) setData(reported map[string]string) {
	r.data = buildData(r.b.dataNames, r.b.Block.Name, r.info, reported)
	ectx := r.tpl.EvalContext(r.b.Block, r.b.Source, r.data)
	if f := r.b.Block.Family; f != nil {
		ectx = family.EvalContext(ectx, f.Name, r.version)
	}
	r.ectx = hclconf.ForRun(ectx)
}

func (r *runner) notStarted(ctx context.Context) BuildResult {
	err := fmt.Errorf("not started: %w", context.Cause(ctx))
	r.sink.Emit(&event.BuildFinished{Error: err.Error(), Cancelled: true})
	return BuildResult{Name: r.b.Name, Err: err}
}

func (r *runner) run(ctx context.Context) BuildResult {
	start := time.Now()
	res := BuildResult{Name: r.b.Name}
	r.sink.Emit(&event.BuildStarted{BuilderType: r.b.Source.Ref.Type})
	r.info = builder.Info{
		Name:       r.b.Name,
		Type:       r.b.Source.Ref.Type,
		SourceName: r.b.Source.Name,
		ID:         uuid.NewString(),
		RunID:      r.opts.RunID,
		Started:    r.tpl.Now,
	}
	r.setData(nil)
	res.Artifacts, res.Err = r.build(ctx)
	if res.Err != nil {
		res.Err = &redactedError{err: res.Err, secrets: r.secretValues()}
	}
	res.Duration = time.Since(start)
	fin := &event.BuildFinished{Duration: res.Duration}
	if res.Err != nil {
		fin.Error = res.Err.Error()
		fin.Cancelled = ctx.Err() != nil
	}
	r.sink.Emit(fin)
	return res
}

func (r *runner) build(ctx context.Context) ([]artifact.Artifact, error) {
	if r.b.builder == nil {
		return nil, errors.New("the build's source did not decode: run Plan and fix its diagnostics first")
	}
	env := &builder.Env{
		Info:        r.info,
		Events:      r.sink,
		OnError:     r.opts.OnError,
		Ask:         r.opts.Ask,
		CleanupStop: r.opts.CleanupStop,
		Force:       r.opts.Force,
		Debug:       r.opts.Debug,
	}
	if r.b.Block.Family != nil {
		return r.buildFamily(ctx, env)
	}
	bld, err := r.decodeBuilder()
	if err != nil {
		return nil, err
	}
	art, err := bld.Run(ctx, env, builder.HookFunc(r.provision))
	if err != nil {
		return nil, err
	}
	if art == nil {
		return nil, nil
	}
	r.artifactCreated(art)
	return r.postProcess(ctx, art)
}

// decodeBuilder decodes the source of a build without a family block again
// for running: Plan decoded it for validation, when values such as data
// sources' may not be known. (A family build runs the builder Plan decoded,
// once, and names its image through builder.Env.Image.)
func (r *runner) decodeBuilder() (builder.Builder, error) {
	ectx := r.tpl.EvalContext(r.b.Block, r.b.Source, nil)
	bld, diags := r.b.builderFactory(r.b.Source.Body, hclconf.ForRun(ectx))
	if diags.HasErrors() {
		return nil, fmt.Errorf("decode source: %w", diags)
	}
	return bld, nil
}

func (r *runner) artifactCreated(a artifact.Artifact) {
	r.sink.Emit(&event.ArtifactCreated{BuilderType: a.BuilderType(), ID: a.ID(), Files: a.Files(), Description: a.String()})
}

// buildData returns the build.* values: names (the build's dataNames), empty
// unless the builder reported them, so that a template that validated (with
// build.* unknown) does not fail on a name this builder does not set; name
// is the build block's name, PackerRunUUID the run's ID.
func buildData(names []string, name string, info builder.Info, reported map[string]string) map[string]string {
	data := map[string]string{}
	for _, k := range names {
		data[k] = ""
	}
	data["name"] = name
	data["PackerRunUUID"] = info.RunID
	maps.Copy(data, reported)
	return data
}

// secretValues returns what must never be shown or written: the template's
// sensitive values and the secrets the build's builder reported so far.
func (r *runner) secretValues() []string {
	return append(r.tpl.SensitiveValues(), r.secrets.list()...)
}

// secretKeys are the build.* values that are secrets whatever the template
// says.
var secretKeys = []string{"Password", "SSHPrivateKey", "WinRMPassword"}

// oneAtATime lets one build ask at a time: a person answers one question
// before the next is shown.
type oneAtATime struct {
	mu sync.Mutex
	a  step.Asker
}

func (o *oneAtATime) Ask(ctx context.Context, stepName string, err error) (step.Choice, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.a.Ask(ctx, stepName, err)
}

// secretSink redacts, on top of the run's secrets, the ones a build's
// builder reported.
type secretSink struct {
	base event.Sink
	mu   sync.Mutex
	out  event.Sink
	secs []string
}

func newSecretSink(base event.Sink) *secretSink {
	return &secretSink{base: base, out: base}
}

func (s *secretSink) Emit(e event.Event) {
	s.mu.Lock()
	out := s.out
	s.mu.Unlock()
	out.Emit(e)
}

// list returns the secrets added so far.
func (s *secretSink) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.secs)
}

// add redacts secrets from later events.
func (s *secretSink) add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secs = append(s.secs, secrets...)
	s.out = event.Redact(s.base, s.secs)
}

// redactedError hides sensitive values from a build's error message; errors.Is
// and errors.As still see the error it wraps.
type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string { return event.RedactString(e.err.Error(), e.secrets) }

func (e *redactedError) Unwrap() error { return e.err }

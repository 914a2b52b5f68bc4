package build

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/clock"
	"github.com/kilnhq/kiln/step"
)

const twoSources = `
source "fake" "a" { instance_id = "i-a" }
source "fake" "b" { instance_id = "i-b" }
`

func TestPlanOneBuildPerBlockAndSource(t *testing.T) {
	w := &world{}
	tpl := load(t, twoSources+`
build {
  sources = ["source.fake.a", "source.fake.b"]
}
build {
  name = "web"
  source "fake.a" { name = "renamed" }
  provisioner "record" { command = "x" }
}
`)
	cases := []struct {
		only, except []string
		want         []string
		warn         bool
	}{
		{nil, nil, []string{"fake.a", "fake.b", "web.fake.renamed"}, false},
		{[]string{"web.*"}, nil, []string{"web.fake.renamed"}, false},
		{[]string{"*.a", "fake.b"}, nil, []string{"fake.a", "fake.b"}, false},
		{nil, []string{"fake.*"}, []string{"web.fake.renamed"}, false},
		{[]string{"nothing*"}, nil, nil, true},
	}
	for _, c := range cases {
		builds, diags := Plan(tpl, w.registries(), c.only, c.except)
		if diags.HasErrors() {
			t.Fatalf("only %v except %v: %v", c.only, c.except, diags)
		}
		var names []string
		for _, b := range builds {
			names = append(names, b.Name)
		}
		if !slices.Equal(names, c.want) {
			t.Errorf("only %v except %v: builds %v, want %v", c.only, c.except, names, c.want)
		}
		if got := len(diags) > 0; got != c.warn {
			t.Errorf("only %v except %v: diagnostics %v, want warning = %v", c.only, c.except, diags, c.warn)
		}
	}
	if _, diags := Plan(tpl, w.registries(), []string{"[bad"}, nil); !diags.HasErrors() {
		t.Error("an invalid -only glob was accepted")
	}
}

func TestPlanReportsEveryProblemOnce(t *testing.T) {
	w := &world{}
	tpl := load(t, `
source "faek" "x" {}
source "fake" "a" {
  instance_id = 1
  nosuch = true
}
source "fake" "b" {}
build {
  sources = ["source.faek.x", "source.fake.a", "source.fake.b"]
  provisioner "recrod" { command = "x" }
  provisioner "record" { comand = "x" }
  post-processor "wrapp" {}
  post-processors {
    post-processor "wrap" { sufix = "x" }
  }
  error-cleanup-provisioner "nope" {}
}
`)
	_, diags := Plan(tpl, w.registries(), nil, nil)
	type want struct {
		line int
		text string
	}
	wants := []want{
		{2, `kiln has no builder named "faek"; did you mean "fake"?`},
		{5, `nosuch`},
		{10, `kiln has no provisioner named "recrod"; did you mean "record"?`},
		{11, `comand`},
		{11, `"command" is required`},
		{12, `kiln has no post-processor named "wrapp"; did you mean "wrap"?`},
		{14, `sufix`},
		{16, `kiln has no provisioner named "nope"`},
	}
	for _, wt := range wants {
		n := 0
		for _, d := range diags {
			if d.Subject != nil && d.Subject.Start.Line == wt.line && strings.Contains(d.Summary+" "+d.Detail, wt.text) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("line %d %q reported %d times, want once; all: %v", wt.line, wt.text, n, diags)
		}
	}
	// Line 10's provisioner is shared by three sources: still one report.
	if len(diags) != len(wants) {
		for _, d := range diags {
			t.Log(d.Subject, d.Summary, d.Detail)
		}
		t.Errorf("%d diagnostics, want %d", len(diags), len(wants))
	}
}

func TestPlanChecksUnusedSources(t *testing.T) {
	w := &world{}
	tpl := load(t, `
source "fake" "used" {}
source "fak" "typo" {}
source "fake" "bad" {
  instance_id = "${source.name}"
  nosuch      = 1
}
build {
  sources = ["source.fake.used"]
}
`)
	_, diags := Plan(tpl, w.registries(), nil, nil)
	if len(diags) != 2 || diags[0].Subject.Start.Line != 3 || diags[1].Subject.Start.Line != 6 ||
		!strings.Contains(diags[0].Detail, `did you mean "fake"?`) || !strings.Contains(diags[1].Detail, "nosuch") {
		t.Errorf("diagnostics %v, want the unused sources' type and attribute", diags)
	}
}

func TestPlanNeedsABuildBlock(t *testing.T) {
	w := &world{}
	tpl := load(t, "source \"fake\" \"a\" {}\n")
	_, diags := Plan(tpl, w.registries(), nil, nil)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "Missing build block") {
		t.Errorf("diagnostics %v, want a missing build block", diags)
	}
}

func TestPlanChecksBuildData(t *testing.T) {
	w := &world{}
	reg := w.registries()
	tpl := load(t, `
source "fake" "a" {}
source "fake" "b" { reports = ["SourceAMIName", "BuildRegion"] }
build {
  name    = "web"
  sources = ["source.fake.a"]
  provisioner "record" { command = "${build.name} ${build.ID} ${build.PackerHTTPAddr} ${build.SSHPublicKey}" }
  provisioner "record" { command = "${build.nme}" }
  provisioner "record" { command = "${build.Bogus}" }
  provisioner "record" { command = "${build.SourceAMI}" }
}
build {
  sources = ["source.fake.b"]
  provisioner "record" { command = "${build.SourceAMIName} ${build.BuildRegion} ${build.name}" }
}
`)
	_, diags := Plan(tpl, reg, nil, nil)
	lines := map[int]string{8: `Did you mean "name"?`, 9: `build.Bogus`, 10: `build.SourceAMI`}
	for _, d := range diags {
		want, ok := lines[d.Subject.Start.Line]
		if !ok || d.Severity != hcl.DiagError || !strings.Contains(d.Detail, want) {
			t.Errorf("unexpected line %d: %s; %s", d.Subject.Start.Line, d.Summary, d.Detail)
		}
		delete(lines, d.Subject.Start.Line)
	}
	for line, want := range lines {
		t.Errorf("line %d: no error containing %s", line, want)
	}
}

func TestRunBuildName(t *testing.T) {
	w := &world{}
	tpl, builds := plan(t, w, twoSources+`
build {
  name    = "web"
  sources = ["source.fake.a"]
  provisioner "record" { command = "name=${build.name} conn=${build.ConnType} http=${build.PackerHTTPAddr}" }
}
`)
	if err := Run(context.Background(), tpl, builds, Options{RunID: "run-1"}).Err(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := w.recorded(), []string{"web.fake.a: name=web conn=ssh http="}; !slices.Equal(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
}

func TestRunProvisionersSeeBuildData(t *testing.T) {
	w := &world{}
	tpl, builds := plan(t, w, twoSources+`
build {
  sources = ["source.fake.a", "source.fake.b"]
  provisioner "record" { command = "id=${build.ID} host=${build.Host} src=${source.name} run=${build.PackerRunUUID}" }
  provisioner "record" {
    only    = ["fake.b"]
    command = "only-b"
  }
  provisioner "record" {
    except  = ["fake.b"]
    command = "not-b"
  }
}
`)
	ev := &eventtest.Recorder{}
	res := Run(context.Background(), tpl, builds, Options{Events: ev, RunID: "run-1"})
	if err := res.Err(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := w.recorded()
	slices.Sort(got)
	want := []string{
		"fake.a: id=i-a host=127.0.0.1 src=a run=run-1",
		"fake.a: not-b",
		"fake.b: id=i-b host=127.0.0.1 src=b run=run-1",
		"fake.b: only-b",
	}
	if !slices.Equal(got, want) {
		t.Errorf("commands:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, b := range res.Builds {
		if b.Err != nil || len(b.Artifacts) != 1 || b.Artifacts[0].ID() != "i-"+b.Name[len(b.Name)-1:] || b.Duration <= 0 {
			t.Errorf("build %d: %+v", i, b)
		}
	}
	all := ev.Events()
	if first := all[0].(*event.RunStarted); first.RunID != "run-1" || !slices.Equal(first.Builds, []string{"fake.a", "fake.b"}) {
		t.Errorf("first event %+v", first)
	}
	if last, ok := all[len(all)-1].(*event.RunFinished); !ok || len(last.Failed) != 0 {
		t.Errorf("last event %+v", all[len(all)-1])
	}
	for _, b := range []string{"fake.a", "fake.b"} {
		var seq []string
		for _, k := range kinds(ev, "build.started", "step.started", "artifact", "build.finished") {
			if strings.HasSuffix(k, " "+b) {
				seq = append(seq, strings.TrimSuffix(k, " "+b))
			}
		}
		want := []string{"build.started", "step.started", "step.started", "artifact", "build.finished"}
		if !slices.Equal(seq, want) {
			t.Errorf("%s events %v, want %v", b, seq, want)
		}
	}
	for _, e := range all {
		if e.EventMeta().Time.IsZero() {
			t.Errorf("%s event without time", e.Kind())
		}
	}
}

func TestRunRedactsSecrets(t *testing.T) {
	w := &world{}
	tpl, builds := plan(t, w, `
variable "token" {
  type      = string
  default   = "tok-123456"
  sensitive = true
}
source "fake" "a" {
  instance_id = "i-a"
  password    = "pw-secret-9"
}
build {
  sources = ["source.fake.a"]
  provisioner "record" { command = "token=${var.token} pw=${build.Password}" }
  provisioner "record" { command = "fail ${var.token} ${build.Password}" }
}
`)
	ev := &eventtest.Recorder{}
	res := Run(context.Background(), tpl, builds, Options{Events: ev})
	err := res.Builds[0].Err
	if err == nil || err.Error() != `provision: provisioner "record" (t.pkr.hcl:14): fail <sensitive> <sensitive>` {
		t.Fatalf("build error %v, want it with the secrets redacted", err)
	}
	if !strings.Contains(res.Err().Error(), "fail <sensitive> <sensitive>") {
		t.Errorf("Result.Err %v", res.Err())
	}
	if got := w.recorded(); len(got) != 2 || got[0] != "fake.a: token=tok-123456 pw=pw-secret-9" {
		t.Fatalf("commands %v: the provisioner must see the real values", got)
	}
	sawOutput := false
	for _, e := range ev.Events() {
		text := marshal(t, e)
		if strings.Contains(text, "tok-123456") || strings.Contains(text, "pw-secret-9") {
			t.Errorf("secret in event %s", text)
		}
		if o, ok := e.(*event.Output); ok && o.Line == "token=<sensitive> pw=<sensitive>" {
			sawOutput = true
		}
	}
	if !sawOutput {
		t.Errorf("no redacted output line among %v", kinds(ev))
	}
}

func TestRunProvisionerFailure(t *testing.T) {
	src := `
source "fake" "a" { instance_id = "i-a" }
build {
  sources = ["source.fake.a"]
  provisioner "record" { command = "first" }
  provisioner "record" { command = "exit 2" }
  provisioner "record" { command = "never" }
  error-cleanup-provisioner "record" { command = "cleanup" }
}
`
	for _, policy := range []step.Policy{step.Cleanup, step.Abort, step.RunCleanupProvisioner} {
		t.Run(string(policy), func(t *testing.T) {
			w := &world{}
			tpl, builds := plan(t, w, src)
			ev := &eventtest.Recorder{}
			res := Run(context.Background(), tpl, builds, Options{Events: ev, OnError: policy})
			err := res.Builds[0].Err
			const want = `provision: provisioner "record" (t.pkr.hcl:6): exit status 2`
			if err == nil || err.Error() != want {
				t.Fatalf("error %v, want %s", err, want)
			}
			wantCmds := []string{"fake.a: first", "fake.a: exit 2", "fake.a: cleanup"}
			if policy == step.Abort {
				wantCmds = wantCmds[:2]
			}
			if got := w.recorded(); !slices.Equal(got, wantCmds) {
				t.Errorf("commands %v, want %v", got, wantCmds)
			}
			fin := ev.Events()[len(ev.Events())-2].(*event.BuildFinished)
			if fin.Error != want || fin.Cancelled {
				t.Errorf("BuildFinished %+v", fin)
			}
			if !strings.Contains(res.Err().Error(), "build fake.a: "+want) {
				t.Errorf("Result.Err %v", res.Err())
			}
		})
	}
}

func TestRunRetriesAndTimeout(t *testing.T) {
	var slept []time.Duration
	sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		return ctx.Err()
	}
	defer func() { sleep = clock.Sleep }()
	w := &world{}
	tpl, builds := plan(t, w, `
source "fake" "a" { instance_id = "i-a" }
build {
  sources = ["source.fake.a"]
  provisioner "record" {
    command     = "flaky"
    fail_times  = 2
    max_retries = 2
  }
  provisioner "record" {
    command      = "paused"
    pause_before = "30ms"
  }
  provisioner "record" {
    command     = "too-flaky"
    fail_times  = 2
    max_retries = 1
  }
}
`)
	ev := &eventtest.Recorder{}
	res := Run(context.Background(), tpl, builds, Options{Events: ev})
	err := res.Builds[0].Err
	if err == nil || !strings.HasSuffix(err.Error(), `provisioner "record" (t.pkr.hcl:14): attempt 2 failed`) {
		t.Fatalf("error %v, want the last attempt's error", err)
	}
	// Two retries of the first block (1 s, then 2 s), the third block's
	// pause_before, one retry of the third.
	if want := []time.Duration{time.Second, 2 * time.Second, 30 * time.Millisecond, time.Second}; !slices.Equal(slept, want) {
		t.Errorf("waits %v, want %v", slept, want)
	}
	if w.attempts["flaky"] != 3 || w.attempts["too-flaky"] != 2 {
		t.Errorf("attempts %v", w.attempts)
	}
	msgs := strings.Join(messages(ev), "\n")
	for _, want := range []string{
		`warning: provisioner "record" (t.pkr.hcl:5) failed (attempt 1 of 3): attempt 1 failed; retrying in 1s`,
		`warning: provisioner "record" (t.pkr.hcl:5) failed (attempt 2 of 3)`,
		`info: provisioner "record" (t.pkr.hcl:10): pausing 30ms`,
		`warning: provisioner "record" (t.pkr.hcl:14) failed (attempt 1 of 2)`,
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("no message %q in:\n%s", want, msgs)
		}
	}

	w = &world{}
	tpl, builds = plan(t, w, `
source "fake" "a" { instance_id = "i-a" }
build {
  sources = ["source.fake.a"]
  provisioner "record" {
    command = "slow"
    sleep   = "10s"
    timeout = "20ms"
  }
}
`)
	res = Run(context.Background(), tpl, builds, Options{})
	if err := res.Builds[0].Err; err == nil || !strings.Contains(err.Error(), `provisioner "record" (t.pkr.hcl:5): timed out after 20ms: sleep: `) {
		t.Fatalf("error %v, want a timeout naming the block", err)
	}
}

func TestRunPostProcessors(t *testing.T) {
	cases := []struct {
		name, pps string
		want      []string // artifact IDs
		destroyed []string
		err       string
	}{
		{"none", ``, []string{"i-a"}, nil, ""},
		{"pass keeps the input", `post-processor "wrap" { pass = true }`, []string{"i-a"}, nil, ""},
		{"replace discards the input", `post-processor "wrap" { suffix = "-1" }`, []string{"i-a-1"}, []string{"i-a"}, ""},
		{"keep_input_artifact", `post-processor "wrap" {
  suffix = "-1"
  keep_input_artifact = true
}`, []string{"i-a", "i-a-1"}, nil, ""},
		{"component keeps", `post-processor "wrap" {
  suffix = "-1"
  keep = true
}`, []string{"i-a", "i-a-1"}, nil, ""},
		{"chain", `post-processors {
  post-processor "wrap" { suffix = "-1" }
  post-processor "wrap" { suffix = "-2" }
}`, []string{"i-a-1-2"}, []string{"i-a-1", "i-a"}, ""},
		{"two chains, one keeps the original", `post-processor "wrap" { suffix = "-1" }
post-processor "wrap" { pass = true }`, []string{"i-a", "i-a-1"}, nil, ""},
		{"only other source", `post-processor "wrap" {
  suffix = "-1"
  only = ["fake.b"]
}`, []string{"i-a"}, nil, ""},
		{"failure", `post-processors {
  post-processor "wrap" { suffix = "-1" }
  post-processor "wrap" { fail = true }
}`, []string{"i-a", "i-a-1"}, nil, `post-processor "wrap" (t.pkr.hcl:9): upload refused`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &world{}
			tpl, builds := plan(t, w, twoSources+`
build {
  sources = ["source.fake.a"]
  `+c.pps+`
}
`)
			ev := &eventtest.Recorder{}
			res := Run(context.Background(), tpl, builds, Options{Events: ev})
			b := res.Builds[0]
			if c.err == "" && b.Err != nil || c.err != "" && (b.Err == nil || b.Err.Error() != c.err) {
				t.Fatalf("error %v, want %q", b.Err, c.err)
			}
			if got := ids(b.Artifacts); !slices.Equal(got, c.want) {
				t.Errorf("artifacts %v, want %v", got, c.want)
			}
			if !slices.Equal(w.destroyed, c.destroyed) {
				t.Errorf("destroyed %v, want %v", w.destroyed, c.destroyed)
			}
			var created []string
			for _, e := range ev.Events() {
				if a, ok := e.(*event.ArtifactCreated); ok {
					created = append(created, a.ID)
				}
			}
			if created[0] != "i-a" {
				t.Errorf("ArtifactCreated events %v: the builder's artifact comes first", created)
			}
		})
	}
}

func ids(arts []artifact.Artifact) []string {
	var out []string
	for _, a := range arts {
		out = append(out, a.ID())
	}
	return out
}

func TestRunNoArtifactSkipsPostProcessors(t *testing.T) {
	w := &world{}
	tpl, builds := plan(t, w, `
source "fake" "a" { no_image = true }
build {
  sources = ["source.fake.a"]
  post-processor "wrap" { fail = true }
}
`)
	ev := &eventtest.Recorder{}
	res := Run(context.Background(), tpl, builds, Options{Events: ev})
	if res.Err() != nil || len(res.Builds[0].Artifacts) != 0 {
		t.Fatalf("result %+v", res.Builds[0])
	}
	if k := kinds(ev, "artifact"); len(k) != 0 {
		t.Errorf("artifact events without an artifact: %v", k)
	}
}

const fourSources = `
source "fake" "a" { instance_id = "i-a" }
source "fake" "b" { instance_id = "i-b" }
source "fake" "c" { instance_id = "i-c" }
source "fake" "d" { instance_id = "i-d" }
build {
  sources = ["source.fake.a", "source.fake.b", "source.fake.c", "source.fake.d"]
}
`

func TestRunParallelBound(t *testing.T) {
	for _, c := range []struct{ parallel, want int }{{1, 1}, {2, 2}, {0, 4}} {
		w := &world{gate: make(chan struct{})}
		tpl, builds := plan(t, w, fourSources)
		// Open the gate once as many builders run as the bound allows; with
		// no bound that is all four, which proves they run at once.
		go func() {
			for {
				w.mu.Lock()
				n := w.running
				w.mu.Unlock()
				if n >= c.want {
					close(w.gate)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res := Run(ctx, tpl, builds, Options{Parallel: c.parallel})
		cancel()
		if err := res.Err(); err != nil {
			t.Fatalf("parallel %d: %v", c.parallel, err)
		}
		if w.maxRun != c.want {
			t.Errorf("parallel %d: %d builders ran at once, want %d", c.parallel, w.maxRun, c.want)
		}
	}
}

func TestRunBoundedBuildsStartInOrder(t *testing.T) {
	for range 5 {
		w := &world{}
		tpl, builds := plan(t, w, fourSources)
		ev := &eventtest.Recorder{}
		if err := Run(context.Background(), tpl, builds, Options{Parallel: 1, Events: ev}).Err(); err != nil {
			t.Fatal(err)
		}
		want := []string{"build.started fake.a", "build.started fake.b", "build.started fake.c", "build.started fake.d"}
		if got := kinds(ev, "build.started"); !slices.Equal(got, want) {
			t.Fatalf("start order %v, want %v", got, want)
		}
	}
}

func TestRunFailureIsolationAndFailFast(t *testing.T) {
	src := `
source "fake" "bad" { fail = "quota exceeded" }
source "fake" "ok" { instance_id = "i-ok" }
build {
  sources = ["source.fake.bad", "source.fake.ok"]
}
`
	w := &world{}
	tpl, builds := plan(t, w, src)
	res := Run(context.Background(), tpl, builds, Options{})
	if res.Builds[0].Err == nil || res.Builds[0].Err.Error() != "quota exceeded" || res.Builds[1].Err != nil {
		t.Fatalf("results %+v", res.Builds)
	}

	// With FailFast, the failure cancels the build waiting at the gate,
	// which is never opened.
	w = &world{gate: make(chan struct{})}
	tpl, builds = plan(t, w, src)
	ev := &eventtest.Recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res = Run(ctx, tpl, builds, Options{FailFast: true, Events: ev})
	if ctx.Err() != nil {
		t.Fatal("FailFast did not cancel the other build")
	}
	if !errors.Is(res.Builds[1].Err, context.Canceled) {
		t.Fatalf("the other build ended with %v, want cancellation", res.Builds[1].Err)
	}
	var cancelled []string
	for _, e := range ev.Events() {
		if f, ok := e.(*event.BuildFinished); ok && f.Cancelled {
			cancelled = append(cancelled, f.Build)
		}
	}
	if !slices.Equal(cancelled, []string{"fake.ok"}) {
		t.Errorf("cancelled builds %v", cancelled)
	}
	fin := ev.Events()[len(ev.Events())-1].(*event.RunFinished)
	if len(fin.Failed) != 2 {
		t.Errorf("RunFinished.Failed %v", fin.Failed)
	}
}

func TestRunCancelledBeforeStart(t *testing.T) {
	w := &world{gate: make(chan struct{})}
	tpl, builds := plan(t, w, fourSources)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			w.mu.Lock()
			n := w.running
			w.mu.Unlock()
			if n == 1 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	res := Run(ctx, tpl, builds, Options{Parallel: 1})
	notStarted := 0
	for _, b := range res.Builds {
		if !errors.Is(b.Err, context.Canceled) {
			t.Errorf("%s: %v, want cancellation", b.Name, b.Err)
		}
		if strings.HasPrefix(b.Err.Error(), "not started") {
			notStarted++
		}
	}
	if notStarted != 3 {
		t.Errorf("%d builds not started, want 3: %+v", notStarted, res.Builds)
	}
}

func marshal(t *testing.T, e event.Event) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// slowAsker answers after a while and records how many questions were open
// at once.
type slowAsker struct {
	mu         sync.Mutex
	open, most int
	asked      []string
}

func (a *slowAsker) Ask(_ context.Context, stepName string, err error) (step.Choice, error) {
	a.mu.Lock()
	a.open++
	a.most = max(a.most, a.open)
	a.asked = append(a.asked, stepName+": "+err.Error())
	a.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	a.mu.Lock()
	a.open--
	a.mu.Unlock()
	return step.ChooseAbort, nil
}

func TestRunAsksOneBuildAtATime(t *testing.T) {
	w := &world{}
	tpl, builds := plan(t, w, `
source "fake" "a" { step_fails = true }
source "fake" "b" { step_fails = true }
source "fake" "c" { step_fails = true }
build {
  sources = ["source.fake.a", "source.fake.b", "source.fake.c"]
}
`)
	asker := &slowAsker{}
	res := Run(context.Background(), tpl, builds, Options{OnError: step.Ask, Ask: asker})
	for _, b := range res.Builds {
		if b.Err == nil || b.Err.Error() != "no capacity" {
			t.Errorf("%s: %v", b.Name, b.Err)
		}
	}
	if len(asker.asked) != 3 || asker.most != 1 {
		t.Errorf("asked %v with up to %d questions open, want 3 asked one at a time", asker.asked, asker.most)
	}
}

func TestRunAppliesProvisionerOverride(t *testing.T) {
	w := &world{}
	tpl, builds := plan(t, w, twoSources+`
build {
  sources = ["source.fake.a", "source.fake.b"]
  provisioner "record" {
    command = "default on ${source.name}"
    override = {
      "fake.b" = { command = "override on ${source.name}" }
    }
  }
}
`)
	if err := Run(context.Background(), tpl, builds, Options{}).Err(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := w.recorded()
	slices.Sort(got)
	want := []string{"fake.a: default on a", "fake.b: override on b"}
	if !slices.Equal(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
}

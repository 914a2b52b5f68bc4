package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln/builder/amazonebs"
	"github.com/kilnhq/kiln/internal/testboot"
	"github.com/kilnhq/kiln/internal/testenv"
	"github.com/kilnhq/kiln/internal/testmoto"
)

const (
	awsBuildRegion = "us-east-1"
	awsCopyRegion  = "eu-west-1"
	// awsHoldMax bounds how long the gate holds a call of the step before
	// the interrupted one.
	awsHoldMax = 100 * time.Millisecond
	// awsOnDemand launches the build's instance on demand.
	awsOnDemand = `instance_type = "t3.micro"`
)

// TestAWSInterrupt is the fault matrix of an amazon-ebs build: the kiln
// binary builds against moto_server, and its process group gets a signal
// when each step starts in turn (the steps amazonebs.StepNames lists, seen
// in the -json event stream). With SIGINT, as Ctrl-C sends; with SIGHUP, as
// a closed terminal or a dropped SSH session sends, with kiln's standard
// output closed at the same time (the terminal is gone); with SIGKILL, which
// kiln cannot see. After SIGINT and SIGHUP kiln must undo what it made,
// exit 130 and leave nothing temporary in either region, nor a journal.
// Then, whatever the signal, `kiln clean` runs with the build's environment
// and journal directory: it must succeed and leave nothing temporary, nor a
// journal (and after SIGINT or SIGHUP find nothing to remove). kiln reaches
// moto through a gate (awsGate) that makes the signal land inside the step,
// and that lets a call kiln sent reach moto even when kiln hangs up on it
// (or dies), as EC2 would: the resource exists though kiln saw only an
// error.
//
// The builds run one after another on one moto_server: loading its catalog
// in a region costs seconds of CPU, far more than a build. Each case's
// leftovers are what moto holds after it and did not hold before it.
func TestAWSInterrupt(t *testing.T) {
	t.Parallel()
	w := newAWSWorld(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGKILL} {
		for _, at := range amazonebs.StepNames() {
			f := awsFault{sig: sig, at: at}
			if !t.Run(f.name(), func(t *testing.T) { w.fault(t, f) }) {
				// An instance left running holds the boot player's port.
				w.terminateInstances(t)
			}
		}
	}
}

// TestAWSKilledAwaitingCreate kills kiln with SIGKILL while it waits for
// the answer of a create call that moto has already done, for each create
// action kiln makes in the template, launching on demand and as spot (as a
// whole build through the proxy shows them): the resource exists, and
// kiln's journal holds only the intent to make it. `kiln clean` must then
// find it from that intent and remove it with everything else the build
// left.
func TestAWSKilledAwaitingCreate(t *testing.T) {
	t.Parallel()
	w := newAWSWorld(t)
	for _, launch := range []struct{ name, source string }{
		{"on-demand", awsOnDemand},
		{"spot", `spot_price = "auto"
  spot_instance_types = ["t3.micro", "t3a.micro"]`},
	} {
		t.Run(launch.name, func(t *testing.T) {
			w.proxy.Actions()                           // forget the calls of the last builds
			w.fault(t, awsFault{source: launch.source}) // to see which calls kiln makes
			seen := w.proxy.Actions()
			var creates []string
			for _, a := range seen {
				if createAction(a) {
					creates = append(creates, a)
				}
			}
			t.Logf("create actions of a build: %v (of %v)", creates, seen)
			if len(creates) < 4 {
				t.Fatalf("a build made only the create calls %v: the proxy does not see them", creates)
			}
			for _, a := range creates {
				f := awsFault{sig: syscall.SIGKILL, hold: a, source: launch.source}
				if !t.Run(f.name(), func(t *testing.T) { w.fault(t, f) }) {
					w.terminateInstances(t)
				}
			}
		})
	}
}

// createAction reports whether the EC2 API action a makes a resource, by
// the verbs EC2 names such calls with.
func createAction(a string) bool {
	if a == "CreateTags" {
		return false // it labels a resource, and makes none
	}
	for _, verb := range []string{"Create", "Run", "Copy", "Request", "Import", "Register", "Allocate"} {
		if strings.HasPrefix(a, verb) {
			return true
		}
	}
	return false
}

// awsFault is how one case of the matrix ends kiln's build: with signal
// sig to its process group when step at starts, or, with hold set, once
// moto has done the first call of that action and while its answer is
// held. Without sig the build runs to its end. source, when set, says how
// the template's instance is launched (awsTemplate's launch).
type awsFault struct {
	sig    syscall.Signal
	at     string
	hold   string
	source string
}

func (f awsFault) name() string {
	switch {
	case f.hold != "":
		return f.hold
	case f.sig == syscall.SIGINT:
		return f.at
	case f.sig == syscall.SIGHUP:
		return "SIGHUP-" + f.at
	case f.sig == syscall.SIGKILL:
		return "SIGKILL-" + f.at
	}
	return "whole-build"
}

// awsWorld is moto, the boot player on a loopback port, and a proxy in
// front of moto through which kiln talks to it, with a gate on it.
type awsWorld struct {
	moto    *testmoto.Server
	regions map[string]*ec2.Client
	port    int
	proxy   *testmoto.Proxy
	// held is what moto held after the last case (or at the start):
	// each case's leftovers are what it holds beyond that. (Listing the
	// account's snapshots costs moto seconds: it is done once a case.)
	held map[string]bool
	mu   sync.Mutex
	gate *awsGate
}

func newAWSWorld(t *testing.T) *awsWorld {
	w := &awsWorld{moto: testmoto.Start(t), port: testenv.FreePort(t)}
	w.regions = map[string]*ec2.Client{
		awsBuildRegion: ec2.NewFromConfig(w.moto.Config(awsBuildRegion)),
		awsCopyRegion:  ec2.NewFromConfig(w.moto.Config(awsCopyRegion)),
	}
	testboot.Start(t, w.moto, awsBuildRegion, w.port)
	w.proxy = testmoto.NewProxy(t, w.moto.Endpoint, func() func() {
		w.mu.Lock()
		g := w.gate
		w.mu.Unlock()
		if g == nil {
			return func() {}
		}
		return g.pass()
	})
	w.held = w.snapshot(t)
	return w
}

// awsGate holds kiln's calls to moto from the step before the interrupted
// one on, until the interrupt is sent (or awsHoldMax passes), so that the
// interrupted step cannot finish its calls before the signal reaches kiln.
type awsGate struct {
	mu          sync.Mutex
	holding     bool
	interrupted bool          // set just before the signal is sent
	sent        chan struct{} // closed once it is sent
	// order keeps each held call ahead of the calls made from the
	// interrupt on, as EC2 sees calls in the order they left kiln. (moto,
	// unlike EC2, would stop an instance it had already terminated.)
	order sync.RWMutex
}

func (g *awsGate) set(f *bool) {
	g.mu.Lock()
	*f = true
	g.mu.Unlock()
}

// pass lets a call through; done is called once moto has answered it.
func (g *awsGate) pass() (done func()) {
	g.mu.Lock()
	holding, interrupted := g.holding, g.interrupted
	g.mu.Unlock()
	switch {
	case interrupted:
		g.order.Lock() // after every held call
		g.order.Unlock()
		return func() {}
	case !holding:
		return func() {}
	}
	g.order.RLock()
	select {
	case <-g.sent:
	case <-time.After(awsHoldMax):
	}
	return g.order.RUnlock
}

// snapshot returns what moto holds in each region, one line each.
func (w *awsWorld) snapshot(t *testing.T) map[string]bool {
	held := map[string]bool{}
	for region, c := range w.regions {
		for _, l := range testmoto.Leftovers(t, c) {
			held[region+": "+l] = true
		}
	}
	return held
}

// terminateInstances terminates every instance in the build region, so that
// a build that left one does not upset the next.
func (w *awsWorld) terminateInstances(t *testing.T) {
	c := w.regions[awsBuildRegion]
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatalf("describe instances: %v", err)
	}
	var ids []string
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if in.State.Name != types.InstanceStateNameTerminated {
				ids = append(ids, aws.ToString(in.InstanceId))
			}
		}
	}
	if len(ids) == 0 {
		return
	}
	if _, err := c.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		t.Fatalf("terminate %v: %v", ids, err)
	}
}

// fault runs one build as f says. With SIGHUP, kiln's standard output is
// closed first, as when the terminal went away: its events are not seen
// after that. Then it runs kiln clean and checks what is left.
func (w *awsWorld) fault(t *testing.T, f awsFault) {
	// The next case starts from what this one leaves, whatever happens.
	var after map[string]bool
	defer func() {
		if after == nil {
			after = w.snapshot(t)
		}
		w.held = after
	}()
	steps := amazonebs.StepNames()
	i := slices.Index(steps, f.at)
	hangup := f.sig == syscall.SIGHUP
	g := &awsGate{sent: make(chan struct{}), holding: i == 0}
	var held <-chan struct{}
	switch {
	case f.hold != "":
		held = w.proxy.Hold(f.hold)
		defer w.proxy.Release()
	case f.at != "":
		w.mu.Lock()
		w.gate = g
		w.mu.Unlock()
		defer func() {
			w.mu.Lock()
			w.gate = nil
			w.mu.Unlock()
		}()
	}

	dir := t.TempDir()
	writeFile(t, dir, "aws.pkr.hcl", awsTemplate(t, w.proxy.URL, w.port, strings.ReplaceAll(t.Name(), "/", "-"), f.source))
	home := t.TempDir() // the journal lives under its cache
	journals := func() []string {
		js, _ := filepath.Glob(filepath.Join(home, ".cache", "kiln", "journal", "*"))
		return js
	}
	env := append(kilnEnv(),
		"AWS_ACCESS_KEY_ID="+testmoto.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+testmoto.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL="+w.proxy.URL,
		"HOME="+home,
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"AWS_CONFIG_FILE="+filepath.Join(home, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "no-credentials"),
		"AWS_REGION=", "AWS_DEFAULT_REGION=", "AWS_PROFILE=", "AWS_SESSION_TOKEN=",
	)
	// A real pipe, so that closing its reading end makes kiln's writes
	// fail (EPIPE), as they fail when the terminal is gone.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	t0 := time.Now()
	cmd := startKilnEnv(t, dir, env, pw, &stderr, "build", "-json", ".")
	pw.Close()
	// signal sends f.sig to kiln's process group, once.
	var signalled sync.Once
	signal := func() (err error) {
		signalled.Do(func() {
			g.set(&g.interrupted)
			if hangup {
				pr.Close()
			}
			err = syscall.Kill(-cmd.Process.Pid, f.sig)
			close(g.sent)
		})
		return err
	}
	exited := make(chan struct{})
	killed := make(chan error, 1)
	go func() {
		select {
		case <-held: // nil unless f.hold is set
			killed <- signal()
		case <-exited:
			killed <- nil
		}
	}()
	var evs []map[string]any
	scanned := make(chan error, 1)
	go func() {
		defer pr.Close()
		defer io.Copy(io.Discard, pr)
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e map[string]any
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				scanned <- fmt.Errorf("-json line is not a JSON object: %v\n%s", err, sc.Text())
				return
			}
			evs = append(evs, e)
			if e["type"] != "step.started" || f.at == "" {
				continue
			}
			switch e["step"] {
			case f.at:
				if err := signal(); err != nil {
					scanned <- fmt.Errorf("signal kiln: %v", err)
					return
				}
				if hangup {
					scanned <- nil
					return
				}
			case steps[max(i-1, 0)]:
				g.set(&g.holding)
			}
		}
		scanned <- sc.Err()
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-time.After(60 * time.Second):
		// SIGQUIT makes kiln print where each goroutine is stuck.
		syscall.Kill(cmd.Process.Pid, syscall.SIGQUIT)
		select {
		case <-waited:
			<-scanned
			t.Fatalf("kiln did not finish within 60 s (%s); events:\n%s\nstderr:\n%s", f.name(), eventSummary(evs), stderr.String())
		case <-time.After(10 * time.Second):
			t.Fatalf("kiln did not finish within 60 s (%s), nor quit", f.name())
		}
	}
	close(exited)
	took := time.Since(t0)
	if serr := <-scanned; serr != nil {
		t.Fatal(serr)
	}
	if kerr := <-killed; kerr != nil {
		t.Fatalf("signal kiln: %v", kerr)
	}
	code := 0
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		code = ee.ExitCode()
	}
	summary := eventSummary(evs)
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case f.sig == 0:
		if code != 0 {
			t.Fatalf("build: exit %d; events:\n%s\nstderr:\n%s", code, summary, stderr.String())
		}
		return // its images are what it was for
	case f.hold != "":
		select {
		case <-held:
		default:
			t.Fatalf("kiln made no %s call (exit %d); events:\n%s\nstderr:\n%s", f.hold, code, summary, stderr.String())
		}
	case !slices.Contains(startedSteps(evs), f.at):
		t.Fatalf("step %q never started (exit %d); events:\n%s\nstderr:\n%s", f.at, code, summary, stderr.String())
	}
	if f.sig == syscall.SIGKILL {
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("kiln ended with %v, want killed by SIGKILL; stderr:\n%s", cmd.ProcessState, stderr.String())
		}
	} else if code != 130 {
		t.Errorf("exit code %d after %v at step %q, want 130; stderr:\n%s", code, f.sig, f.at, stderr.String())
	}
	if f.sig == syscall.SIGINT {
		checkInterruptEvents(t, evs, f.at, i)
	}

	if js := journals(); f.sig != syscall.SIGKILL && len(js) > 0 {
		t.Errorf("journal left after %v at step %q: %v", f.sig, f.at, js)
	}
	// What kiln sent before it died lands at moto before kiln clean looks.
	w.proxy.Release()
	w.proxy.Idle()
	if left, _ := w.left(t); f.hold != "" && len(left) == 0 {
		t.Fatalf("nothing in moto after %s was held: the case proves nothing", f.hold)
	}

	clean := runKilnEnv(t, t.TempDir(), append(env, "AWS_ENDPOINT_URL="+w.moto.Endpoint),
		"clean", "-region", awsBuildRegion, "-region", awsCopyRegion)
	if clean.code != 0 {
		t.Errorf("kiln clean after %s:\n%s", f.name(), clean)
	}
	// After SIGINT or SIGHUP kiln cleans up itself: what kiln clean
	// finds, or what neither removes, kiln left.
	if f.sig != syscall.SIGKILL && !strings.Contains(clean.stdout, "Removed 0 temporary resources") {
		t.Errorf("kiln clean after %v, which kiln cleaned up itself, found something to do:\n%s", f.sig, clean)
	}
	left, after := w.left(t)
	for _, l := range left {
		t.Errorf("left after %s and kiln clean: %s", f.name(), l)
	}
	if js := journals(); len(js) > 0 {
		t.Errorf("journal left after kiln clean: %v", js)
	}
	if t.Failed() {
		t.Logf("events:\n%s\nkiln clean:\n%s", summary, clean)
	} else {
		t.Logf("%s: %v after %s, %d events seen; kiln clean: %s", f.name(), cmd.ProcessState, took.Round(time.Millisecond), len(evs), strings.TrimSpace(clean.stdout))
	}
}

// left returns what moto holds beyond what it held after the last case,
// sorted, and all it holds now.
func (w *awsWorld) left(t *testing.T) (left []string, now map[string]bool) {
	now = w.snapshot(t)
	for l := range now {
		if !w.held[l] {
			left = append(left, l)
		}
	}
	slices.Sort(left)
	return left, now
}

// checkInterruptEvents checks the events of a build interrupted at step at
// (the i-th): cancelled, nothing started after it, every undo done, nothing
// left behind.
func checkInterruptEvents(t *testing.T, evs []map[string]any, at string, i int) {
	t.Helper()
	started := startedSteps(evs)
	if fin := ofType(evs, "build.finished"); len(fin) != 1 || fin[0]["cancelled"] != true {
		t.Errorf("build.finished events %v, want one with cancelled=true", fin)
	}
	if last := started[len(started)-1]; last != at {
		t.Errorf("step %q started after the interrupt at step %q", last, at)
	}
	undone := ofType(evs, "undo.finished")
	for _, u := range undone {
		if u["error"] != nil {
			t.Errorf("undo of %v failed: %v", u["what"], u["error"])
		}
	}
	for _, l := range ofType(evs, "left-behind") {
		t.Errorf("kiln reports %v left behind", l["what"])
	}
	// From security-group on, the key pair exists when the signal comes.
	if i > slices.Index(amazonebs.StepNames(), "key-pair") && len(undone) == 0 {
		t.Errorf("no undo.finished events after SIGINT at step %q", at)
	}
}

// awsTemplate is an amazon-ebs build against endpoint of an image named
// after name: source image, VPC and subnet found by filters, a copy region,
// sharing, tags and a shell provisioner over SSH to the test's sshd on
// 127.0.0.1:port. launch holds the attributes that say how the instance is
// launched; "" launches a t3.micro on demand.
func awsTemplate(t *testing.T, endpoint string, port int, name, launch string) string {
	t.Helper()
	if launch == "" {
		launch = awsOnDemand
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`
source "amazon-ebs" "main" {
  region              = %q
  custom_endpoint_ec2 = %q
  source_ami_filter {
    filters = {
      name             = "ubuntu/images/hvm-ssd/ubuntu-xenial-*"
      root-device-type = "ebs"
    }
    owners      = ["099720109477"]
    most_recent = true
  }
  vpc_filter {
    filters = { isDefault = "true" }
  }
  subnet_filter {
    filters   = { default-for-az = "true" }
    most_free = true
  }
  %s
  ami_name       = "kiln-interrupt-%s"
  ami_regions    = [%q]
  ami_users      = ["210987654321"]
  snapshot_users = ["210987654321"]
  tags           = { Name = "kiln-interrupt" }
  snapshot_tags  = { Kind = "root" }
  ssh_host       = "127.0.0.1"
  ssh_port       = %d
  ssh_username   = %q
  ssh_timeout    = "30s"
}

build {
  sources = ["source.amazon-ebs.main"]

  provisioner "shell" {
    inline = ["echo provisioned"]
  }
}
`, awsBuildRegion, endpoint, launch, name, awsCopyRegion, port, u.Username)
}

// startedSteps returns the steps whose step.started event came, in order.
func startedSteps(evs []map[string]any) []string {
	var out []string
	for _, e := range ofType(evs, "step.started") {
		out = append(out, fmt.Sprint(e["step"]))
	}
	return out
}

// eventSummary is one line per event: its type and the fields that say
// what happened.
func eventSummary(evs []map[string]any) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %v", e["type"])
		for _, k := range []string{"step", "what", "error", "text", "line", "cancelled"} {
			if v, ok := e[k]; ok {
				fmt.Fprintf(&b, " %s=%v", k, v)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
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
)

// TestAWSInterrupt runs the kiln binary on an amazon-ebs build against
// moto_server and interrupts its process group with SIGINT, as Ctrl-C does,
// when each step starts in turn; then again with SIGHUP, as a closed
// terminal or a dropped SSH session does, with kiln's standard output
// closed at the same time (the terminal is gone). kiln must undo what it
// made, exit 130 and leave nothing temporary in either region, nor a
// journal. kiln reaches
// moto through a gate (awsGate) that makes the signal land inside the step,
// and that lets a call kiln sent reach moto even when kiln hangs up on it,
// as EC2 would: the resource exists though kiln saw only an error.
//
// The builds run one after another on one moto_server: loading its catalog
// in a region costs seconds of CPU, far more than a build. Each build's
// leftovers are what moto holds after it and did not hold before it.
func TestAWSInterrupt(t *testing.T) {
	w := newAWSWorld(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP} {
		for _, at := range amazonebs.StepNames() {
			name := at
			if sig != syscall.SIGINT {
				name = "SIGHUP-" + at
			}
			if !t.Run(name, func(t *testing.T) { w.interrupt(t, sig, at) }) {
				// An instance left running holds the boot player's port.
				w.terminateInstances(t)
			}
		}
	}
}

// awsWorld is moto, the boot player on a loopback port, and a gate in front
// of moto through which kiln talks to it.
type awsWorld struct {
	moto    *testmoto.Server
	regions map[string]*ec2.Client
	port    int
	proxy   string // the gate's URL
	mu      sync.Mutex
	gate    *awsGate
}

func newAWSWorld(t *testing.T) *awsWorld {
	w := &awsWorld{moto: testmoto.Start(t), port: testenv.FreePort(t)}
	w.regions = map[string]*ec2.Client{
		awsBuildRegion: ec2.NewFromConfig(w.moto.Config(awsBuildRegion)),
		awsCopyRegion:  ec2.NewFromConfig(w.moto.Config(awsCopyRegion)),
	}
	testboot.Start(t, w.moto, awsBuildRegion, w.port)
	target, err := url.Parse(w.moto.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	forward.ErrorLog = log.New(io.Discard, "", 0) // kiln hanging up is expected
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		w.mu.Lock()
		g := w.gate
		w.mu.Unlock()
		if g != nil {
			defer g.pass()()
		}
		// A call that left kiln reaches EC2 even if kiln gives up on the
		// answer: the resource may exist although kiln saw an error.
		forward.ServeHTTP(rw, req.WithContext(context.WithoutCancel(req.Context())))
	}))
	t.Cleanup(srv.Close)
	w.proxy = srv.URL
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

// interrupt runs a build and sends sig to kiln's process group when step at
// starts. With SIGHUP, kiln's standard output is closed first, as when the
// terminal went away: its events are not seen after that.
func (w *awsWorld) interrupt(t *testing.T, sig syscall.Signal, at string) {
	before := w.snapshot(t)
	steps := amazonebs.StepNames()
	i := slices.Index(steps, at)
	hangup := sig == syscall.SIGHUP
	g := &awsGate{sent: make(chan struct{}), holding: i == 0}
	w.mu.Lock()
	w.gate = g
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.gate = nil
		w.mu.Unlock()
	}()

	dir := t.TempDir()
	writeFile(t, dir, "aws.pkr.hcl", awsTemplate(t, w.proxy, w.port, at))
	home := t.TempDir() // the journal lives under its cache
	env := append(kilnEnv(),
		"AWS_ACCESS_KEY_ID="+testmoto.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+testmoto.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL="+w.proxy,
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
			if e["type"] != "step.started" {
				continue
			}
			switch e["step"] {
			case at:
				g.set(&g.interrupted)
				if hangup {
					pr.Close()
				}
				if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
					scanned <- fmt.Errorf("interrupt kiln: %v", err)
					return
				}
				close(g.sent)
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
			t.Fatalf("kiln did not finish within 60 s of the interrupt at step %q; events:\n%s\nstderr:\n%s", at, eventSummary(evs), stderr.String())
		case <-time.After(10 * time.Second):
			t.Fatalf("kiln did not finish within 60 s of the interrupt at step %q, nor quit", at)
		}
	}
	took := time.Since(t0)
	if serr := <-scanned; serr != nil {
		t.Fatal(serr)
	}
	code := 0
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		code = ee.ExitCode()
	}
	summary := eventSummary(evs)
	started := startedSteps(evs)
	if !slices.Contains(started, at) {
		t.Fatalf("step %q never started (exit %d); events:\n%s\nstderr:\n%s", at, code, summary, stderr.String())
	}
	if code != 130 {
		t.Errorf("exit code %d after %v at step %q, want 130; stderr:\n%s", code, sig, at, stderr.String())
	}
	if !hangup {
		checkInterruptEvents(t, evs, at, i)
	}

	for l := range w.snapshot(t) {
		if !before[l] {
			t.Errorf("left after %v at step %q: %s", sig, at, l)
		}
	}
	journals, _ := filepath.Glob(filepath.Join(home, ".cache", "kiln", "journal", "*"))
	if len(journals) > 0 {
		t.Errorf("journal left: %v", journals)
	}
	if t.Failed() {
		t.Logf("events:\n%s", summary)
	} else {
		t.Logf("%v at %s: exit %d after %s, %d events seen", sig, at, code, took.Round(time.Millisecond), len(evs))
	}
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
// 127.0.0.1:port.
func awsTemplate(t *testing.T, endpoint string, port int, name string) string {
	t.Helper()
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
  instance_type  = "t3.micro"
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
`, awsBuildRegion, endpoint, name, awsCopyRegion, port, u.Username)
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

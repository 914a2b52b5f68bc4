package amazonebs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/internal/testmoto"
)

// The test binary doubles as a kiln process to be killed: with
// KILN_TEST_CHILD_HCL set, TestMain runs one build and freezes when the step
// named by KILN_TEST_CHILD_FREEZE starts, after saying so on stdout.
func TestMain(m *testing.M) {
	if src := os.Getenv("KILN_TEST_CHILD_HCL"); src != "" {
		runChild(src, os.Getenv("KILN_TEST_CHILD_JOURNAL"), os.Getenv("KILN_TEST_CHILD_FREEZE"))
		return
	}
	os.Exit(m.Run())
}

func runChild(src, journal, freeze string) {
	fail := func(err error) {
		fmt.Println("child error:", err)
		os.Exit(2)
	}
	f, diags := hclsyntax.ParseConfig([]byte(src), "child.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		fail(diags)
	}
	body := f.Body
	b, d := New(body, nil)
	if d.HasErrors() {
		fail(d)
	}
	eb := b.(*Builder)
	eb.journalDir = journal
	eb.publicIP = func(context.Context) (string, error) { return "", fmt.Errorf("no lookups in tests") }
	frozen := func() {
		fmt.Println("frozen at", freeze)
		select {}
	}
	env := &builder.Env{
		Info: builder.Info{Name: "child.amazon-ebs.main", Type: Type, ID: "child-" + freeze},
		Events: event.SinkFunc(func(e event.Event) {
			if s, ok := e.(*event.StepStarted); ok && s.Step == freeze {
				frozen()
			}
		}),
	}
	hook := builder.HookFunc(func(ctx context.Context, comm communicator.Communicator, _ map[string]string) error {
		return comm.Run(ctx, &communicator.Cmd{Command: "true"})
	})
	_, err := eb.Run(context.Background(), env, hook)
	fmt.Println("child finished:", err)
	os.Exit(0)
}

// TestIntegrationKilledThenClean kills a build with SIGKILL at several
// points and checks that Clean removes everything it left, and nothing of a
// build that still runs.
func TestIntegrationKilledThenClean(t *testing.T) {
	for _, freeze := range []string{"provision", "copy-image", "tag"} {
		t.Run(freeze, func(t *testing.T) {
			r := newRig(t)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "KILN_TEST_CHILD_HCL="+r.hcl(""), "KILN_TEST_CHILD_JOURNAL="+r.journal, "KILN_TEST_CHILD_FREEZE="+freeze)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			line, err := readLineWithin(out, 60*time.Second)
			if err != nil || !strings.HasPrefix(line, "frozen at") {
				t.Fatalf("child: %q, %v", line, err)
			}
			before := len(r.left(r.home)) + len(r.left(r.away))
			if before == 0 {
				t.Fatalf("the child left nothing to clean at %s: the test proves nothing", freeze)
			}

			opts := CleanOptions{
				Access: awsutil.AccessConfig{
					Region: buildRegion, AccessKey: "testing", SecretKey: "testing", CustomEndpointEC2: r.moto.Endpoint,
				},
				Regions:    []string{buildRegion, copyRegion},
				JournalDir: r.journal,
			}
			// While the build runs, Clean leaves it alone.
			rep, err := Clean(context.Background(), opts)
			if err != nil || len(rep.Removed) != 0 || len(rep.LiveBuilds) != 1 {
				t.Fatalf("clean during the build: removed %v, live %v, err %v", rep.Removed, rep.LiveBuilds, err)
			}

			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()

			dry := opts
			dry.DryRun = true
			rep, err = Clean(context.Background(), dry)
			if err != nil || len(rep.Removed) == 0 {
				t.Fatalf("dry run: %v, %v", rep, err)
			}
			if now := len(r.left(r.home)) + len(r.left(r.away)); now != before {
				t.Fatalf("dry run removed something: %d resources before, %d after", before, now)
			}

			if freeze == "copy-image" {
				// From the journal alone: its regions, its build's tags, its IDs.
				opts.JournalOnly, opts.Regions = true, nil
			}
			rep, err = Clean(context.Background(), opts)
			if err != nil {
				t.Fatalf("clean: %v", err)
			}
			t.Logf("clean removed %d resources: %v", len(rep.Removed), rep.Removed)
			r.assertClean()
			if len(rep.JournalsRemoved) != 1 {
				t.Errorf("journals removed = %v, want the child's", rep.JournalsRemoved)
			}
		})
	}
}

// TestIntegrationKilledDuringCopyImage kills a build with SIGKILL while
// CopyImage's answer is in flight: the copy exists in the copy region
// (untagged, as moto drops the copy's tag specifications), and the journal
// holds only the intent. Clean must find the copy by its name and remove it
// with its snapshot, with everything else the build left.
func TestIntegrationKilledDuringCopyImage(t *testing.T) {
	r := newRig(t)
	proxy := testmoto.NewProxy(t, r.moto.Endpoint, nil)
	copied := proxy.Hold("CopyImage")
	src := strings.Replace(r.hcl(""), fmt.Sprintf("custom_endpoint_ec2 = %q", r.moto.Endpoint), fmt.Sprintf("custom_endpoint_ec2 = %q", proxy.URL), 1)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KILN_TEST_CHILD_HCL="+src, "KILN_TEST_CHILD_JOURNAL="+r.journal, "KILN_TEST_CHILD_FREEZE=never")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	select {
	case <-copied:
	case <-time.After(90 * time.Second):
		t.Fatal("the build made no copy within 90 s")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(r.left(r.away)) == 0 {
		t.Fatal("no copy in the copy region: the test proves nothing")
	}
	rep, err := Clean(context.Background(), CleanOptions{
		Access:      awsutil.AccessConfig{Region: buildRegion, AccessKey: "testing", SecretKey: "testing", CustomEndpointEC2: r.moto.Endpoint},
		JournalOnly: true,
		JournalDir:  r.journal,
	})
	if err != nil {
		t.Fatalf("clean: %v", err)
	}
	t.Logf("clean removed %v", rep.Removed)
	r.assertClean()
}

func readLineWithin(r io.Reader, d time.Duration) (string, error) {
	ch := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		ch <- strings.TrimSpace(line)
	}()
	select {
	case l := <-ch:
		return l, nil
	case <-time.After(d):
		return "", fmt.Errorf("no line within %s", d)
	}
}

// throttler is a proxy in front of moto that answers a share of the calls
// with EC2's RequestLimitExceeded, as EC2 does under load.
type throttler struct {
	mu        sync.Mutex
	rnd       *rand.Rand
	share     float64
	throttled atomic.Int64
	passed    atomic.Int64
}

const throttleBody = `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>kiln-test</RequestID></Response>`

func startThrottler(t *testing.T, target string, share float64) (*throttler, string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	th := &throttler{rnd: rand.New(rand.NewPCG(1, 2)), share: share}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		th.mu.Lock()
		throttle := th.rnd.Float64() < th.share
		th.mu.Unlock()
		if throttle {
			th.throttled.Add(1)
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, throttleBody)
			return
		}
		th.passed.Add(1)
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return th, srv.URL
}

// TestIntegrationThrottled builds through a proxy that throttles 30% of the
// calls, with the SDK's real client, retryer and configuration loading.
func TestIntegrationThrottled(t *testing.T) {
	r := newRig(t)
	th, endpoint := startThrottler(t, r.moto.Endpoint, 0.3)
	src := strings.Replace(r.hcl(""), fmt.Sprintf("custom_endpoint_ec2 = %q", r.moto.Endpoint), fmt.Sprintf("custom_endpoint_ec2 = %q", endpoint), 1)
	b := r.builder(src, nil)
	b.clients = nil // the real client, as users get it
	start := time.Now()
	art, err := b.Run(context.Background(), r.env(&eventtest.Recorder{}), &provisionHook{cmd: "true"})
	if err != nil {
		t.Fatalf("build under throttling: %v", err)
	}
	t.Logf("built %s in %s; %d calls throttled, %d passed", art.ID(), time.Since(start).Round(time.Millisecond), th.throttled.Load(), th.passed.Load())
	if th.throttled.Load() == 0 {
		t.Fatal("nothing was throttled: the test proves nothing")
	}
	r.assertCleanExceptImages()
}

// TestIntegrationCleanByAge: without a dead build to point at, Clean removes
// what has expired, or with OlderThan what is older than that; resources
// without kiln's tags are never touched.
func TestIntegrationCleanByAge(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	now := time.Now()
	keyPair := func(name string, tags []types.Tag) {
		signer, _, err := newKey("ed25519")
		if err != nil {
			t.Fatal(err)
		}
		in := &ec2.ImportKeyPairInput{KeyName: aws.String(name), PublicKeyMaterial: []byte(authorizedKey(signer.PublicKey()))}
		if tags != nil {
			in.TagSpecifications = []types.TagSpecification{awsutil.TagSpec(types.ResourceTypeKeyPair, tags)}
		}
		if _, err := r.home.ImportKeyPair(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	keyPair("expired", awsutil.TempTags("gone-1", now.Add(-48*time.Hour), 24*time.Hour))
	keyPair("fresh", awsutil.TempTags("running-elsewhere", now, 6*time.Hour))
	keyPair("three-hours", awsutil.TempTags("gone-2", now.Add(-3*time.Hour), 6*time.Hour))
	keyPair("someone-elses", nil)
	names := func() string {
		out, err := r.home.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, k := range out.KeyPairs {
			n = append(n, aws.ToString(k.KeyName))
		}
		sort.Strings(n)
		return strings.Join(n, ",")
	}
	opts := CleanOptions{
		Access:     AccessConfig{Region: buildRegion, AccessKey: "testing", SecretKey: "testing", CustomEndpointEC2: r.moto.Endpoint},
		JournalDir: r.journal,
	}
	if _, err := Clean(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if got := names(); got != "fresh,someone-elses,three-hours" {
		t.Fatalf("after clean of expired: %s", got)
	}
	opts.OlderThan = 2 * time.Hour
	if _, err := Clean(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if got := names(); got != "fresh,someone-elses" {
		t.Fatalf("after clean of older than 2h: %s", got)
	}
}

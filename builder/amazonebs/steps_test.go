package amazonebs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/step"
)

// fakeEC2 substitutes the EC2 API in unit tests. Methods not overridden
// panic through the nil embedded interface, so a test sees any call it did
// not expect.
type fakeEC2 struct {
	EC2
	mu    sync.Mutex
	calls []string

	describeImages func(*ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error)
	copyImage      func(*ec2.CopyImageInput) (*ec2.CopyImageOutput, error)
	deleteSG       func() error
	deregistered   []string
	deletedSnaps   []string
}

func (f *fakeEC2) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeEC2) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	f.record("DescribeImages")
	return f.describeImages(in)
}

func (f *fakeEC2) CopyImage(_ context.Context, in *ec2.CopyImageInput, _ ...func(*ec2.Options)) (*ec2.CopyImageOutput, error) {
	f.record("CopyImage")
	return f.copyImage(in)
}

func (f *fakeEC2) CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	f.record("CreateTags")
	return &ec2.CreateTagsOutput{}, nil
}

func (f *fakeEC2) DeregisterImage(_ context.Context, in *ec2.DeregisterImageInput, _ ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deregistered = append(f.deregistered, aws.ToString(in.ImageId))
	return &ec2.DeregisterImageOutput{}, nil
}

func (f *fakeEC2) DescribeSnapshots(context.Context, *ec2.DescribeSnapshotsInput, ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error) {
	return &ec2.DescribeSnapshotsOutput{}, nil
}

func (f *fakeEC2) DeleteSnapshot(_ context.Context, in *ec2.DeleteSnapshotInput, _ ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletedSnaps = append(f.deletedSnaps, aws.ToString(in.SnapshotId))
	return &ec2.DeleteSnapshotOutput{}, nil
}

func (f *fakeEC2) ModifyImageAttribute(_ context.Context, in *ec2.ModifyImageAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error) {
	switch {
	case in.LaunchPermission != nil:
		var who []string
		for _, p := range in.LaunchPermission.Add {
			who = append(who, aws.ToString(p.UserId)+string(p.Group)+aws.ToString(p.OrganizationArn)+aws.ToString(p.OrganizationalUnitArn))
		}
		f.record("share " + aws.ToString(in.ImageId) + " with " + strings.Join(who, ","))
	case in.ImdsSupport != nil:
		f.record("imds " + aws.ToString(in.ImdsSupport.Value))
	}
	return &ec2.ModifyImageAttributeOutput{}, nil
}

func (f *fakeEC2) ModifySnapshotAttribute(_ context.Context, in *ec2.ModifySnapshotAttributeInput, _ ...func(*ec2.Options)) (*ec2.ModifySnapshotAttributeOutput, error) {
	f.record("share snapshot " + aws.ToString(in.SnapshotId))
	return &ec2.ModifySnapshotAttributeOutput{}, nil
}

func (f *fakeEC2) EnableImageDeprecation(_ context.Context, in *ec2.EnableImageDeprecationInput, _ ...func(*ec2.Options)) (*ec2.EnableImageDeprecationOutput, error) {
	f.record("deprecate " + aws.ToString(in.ImageId) + " at " + in.DeprecateAt.Format(time.RFC3339))
	return &ec2.EnableImageDeprecationOutput{}, nil
}

func (f *fakeEC2) ImportKeyPair(_ context.Context, in *ec2.ImportKeyPairInput, _ ...func(*ec2.Options)) (*ec2.ImportKeyPairOutput, error) {
	var tags []string
	for _, ts := range in.TagSpecifications {
		for _, t := range ts.Tags {
			tags = append(tags, aws.ToString(t.Key))
		}
	}
	f.record("import " + aws.ToString(in.KeyName) + " tagged " + strings.Join(tags, ","))
	return &ec2.ImportKeyPairOutput{KeyName: in.KeyName}, nil
}

func (f *fakeEC2) DeleteSecurityGroup(context.Context, *ec2.DeleteSecurityGroupInput, ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error) {
	f.record("DeleteSecurityGroup")
	return &ec2.DeleteSecurityGroupOutput{}, f.deleteSG()
}

// unitState returns a state over per-region fakes with fast waits.
func unitState(t *testing.T, cfg Config, fakes map[string]*fakeEC2) *state {
	t.Helper()
	j, err := awsutil.OpenJournal(t.TempDir(), "unit")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	clients := func(_ context.Context, region string) (EC2, error) {
		f, ok := fakes[region]
		if !ok {
			return nil, fmt.Errorf("no fake for %s", region)
		}
		return f, nil
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return &state{
		cfg: &cfg, env: &builder.Env{}, events: event.Discard, region: cfg.Region, ec2: fakes[cfg.Region], clients: clients,
		journal: j, build: "unit", now: time.Unix(0, 0),
		waits:    waitTimes{first: time.Millisecond, max: 5 * time.Millisecond, instance: time.Second, image: time.Second, removal: time.Second, snapshot: time.Second},
		tempTags: awsutil.TempTags("unit", time.Now(), time.Hour),
		images:   map[string]string{}, snapshots: map[string][]string{},
	}
}

func image(id, state string, snaps ...string) types.Image {
	img := types.Image{ImageId: aws.String(id), State: types.ImageState(state)}
	for _, s := range snaps {
		img.BlockDeviceMappings = append(img.BlockDeviceMappings, types.BlockDeviceMapping{Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(s)}})
	}
	return img
}

// TestAwaitImageSlowPath: an image pending for several polls is waited for,
// and its snapshots are recorded once available.
func TestAwaitImageSlowPath(t *testing.T) {
	var polls atomic.Int32
	f := &fakeEC2{describeImages: func(*ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error) {
		switch n := polls.Add(1); {
		case n == 1:
			return nil, &smithy.GenericAPIError{Code: "InvalidAMIID.NotFound"} // eventual consistency
		case n < 6:
			return &ec2.DescribeImagesOutput{Images: []types.Image{image("ami-1", "pending")}}, nil
		}
		return &ec2.DescribeImagesOutput{Images: []types.Image{image("ami-1", "available", "snap-1", "snap-2")}}, nil
	}}
	s := unitState(t, Config{}, map[string]*fakeEC2{"us-east-1": f})
	if err := s.awaitImage(context.Background(), "us-east-1", f, "ami-1"); err != nil {
		t.Fatalf("await: %v", err)
	}
	if polls.Load() != 6 {
		t.Errorf("polled %d times, want 6", polls.Load())
	}
	if got := strings.Join(s.snapshots["us-east-1"], ","); got != "snap-1,snap-2" {
		t.Errorf("snapshots = %s", got)
	}
}

// TestAwaitImageTimeout: a wait that gives up says which image, in which
// state, and the build's error says what was cleaned.
func TestAwaitImageTimeout(t *testing.T) {
	f := &fakeEC2{describeImages: func(*ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error) {
		return &ec2.DescribeImagesOutput{Images: []types.Image{image("ami-1", "pending", "snap-1")}}, nil
	}}
	s := unitState(t, Config{}, map[string]*fakeEC2{"us-east-1": f})
	s.waits.image = 30 * time.Millisecond
	rec := &undoLog{sink: event.Discard}
	err := step.Run(context.Background(), step.Runner{Events: rec}, s, step.Step[state]{Name: "create-image", Run: func(ctx context.Context, s *state, u *step.Undo) error {
		if err := s.trackImage(u, "us-east-1", "unit", "ami-1"); err != nil {
			return err
		}
		return s.awaitImage(ctx, "us-east-1", f, "ami-1")
	}})
	var te *awsutil.TimeoutError
	if !errors.As(err, &te) || te.State != "pending" || !strings.Contains(te.What, "ami-1 in us-east-1") {
		t.Fatalf("err = %v, want a timeout naming the image and its state", err)
	}
	if sum := rec.summary(); !strings.Contains(sum, "cleaned up: image ami-1 in us-east-1") {
		t.Errorf("summary = %q", sum)
	}
	if strings.Join(f.deregistered, ",") != "ami-1" || strings.Join(f.deletedSnaps, ",") != "snap-1" {
		t.Errorf("deregistered %v, deleted %v: the pending image was not removed with its snapshot", f.deregistered, f.deletedSnaps)
	}
}

// TestAwaitImageFailed: a failed image ends the wait with AWS's reason.
func TestAwaitImageFailed(t *testing.T) {
	f := &fakeEC2{describeImages: func(*ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error) {
		img := image("ami-1", "failed")
		img.StateReason = &types.StateReason{Message: aws.String("Client.InternalError")}
		return &ec2.DescribeImagesOutput{Images: []types.Image{img}}, nil
	}}
	s := unitState(t, Config{}, map[string]*fakeEC2{"us-east-1": f})
	err := s.awaitImage(context.Background(), "us-east-1", f, "ami-1")
	if err == nil || !strings.Contains(err.Error(), "failed: Client.InternalError") {
		t.Fatalf("err = %v", err)
	}
}

// TestCopyPartialFailure: when one region's copy fails, the copy that
// succeeded elsewhere and the image itself are removed.
func TestCopyPartialFailure(t *testing.T) {
	avail := func(id string) func(*ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error) {
		return func(*ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error) {
			return &ec2.DescribeImagesOutput{Images: []types.Image{image(id, "available", "snap-"+id)}}, nil
		}
	}
	home := &fakeEC2{describeImages: avail("ami-home")}
	// The bad copy fails once the good one is made: a copy cancelled
	// before it is sent leaves nothing to remove.
	copied := make(chan struct{})
	good := &fakeEC2{describeImages: avail("ami-good"), copyImage: func(in *ec2.CopyImageInput) (*ec2.CopyImageOutput, error) {
		defer close(copied)
		if aws.ToString(in.ClientToken) == "" {
			t.Error("CopyImage without a client token")
		}
		return &ec2.CopyImageOutput{ImageId: aws.String("ami-good")}, nil
	}}
	bad := &fakeEC2{copyImage: func(*ec2.CopyImageInput) (*ec2.CopyImageOutput, error) {
		<-copied
		return nil, &smithy.GenericAPIError{Code: "InvalidParameterValue", Message: "no"}
	}}
	s := unitState(t, Config{AMIRegions: []string{"eu-west-1", "ap-south-1"}}, map[string]*fakeEC2{"us-east-1": home, "eu-west-1": good, "ap-south-1": bad})
	err := step.Run(context.Background(), step.Runner{}, s,
		step.Step[state]{Name: "create-image", Run: func(_ context.Context, s *state, u *step.Undo) error {
			return s.trackImage(u, "us-east-1", "unit", "ami-home")
		}},
		step.Step[state]{Name: "copy-image", Run: stepCopyImages},
	)
	if err == nil || !strings.Contains(err.Error(), "ap-south-1") {
		t.Fatalf("err = %v, want the failed region named", err)
	}
	if strings.Join(home.deregistered, ",") != "ami-home" {
		t.Errorf("home image not removed: %v", home.deregistered)
	}
	if strings.Join(good.deregistered, ",") != "ami-good" {
		t.Errorf("copy in eu-west-1 not removed: %v", good.deregistered)
	}
}

// TestSecurityGroupRemovalWaitsForDependencies: DependencyViolation while
// the instance terminates is retried, not reported as a leak.
func TestSecurityGroupRemovalWaitsForDependencies(t *testing.T) {
	n := 0
	f := &fakeEC2{deleteSG: func() error {
		if n++; n < 4 {
			return &smithy.GenericAPIError{Code: "DependencyViolation", Message: "in use"}
		}
		return nil
	}}
	s := unitState(t, Config{}, map[string]*fakeEC2{"us-east-1": f})
	if err := s.remover().securityGroup(context.Background(), f, "sg-1"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if n != 4 {
		t.Errorf("attempts = %d, want 4", n)
	}
	// Any other error is reported at once.
	f.deleteSG = func() error { return &smithy.GenericAPIError{Code: "UnauthorizedOperation"} }
	if err := s.remover().securityGroup(context.Background(), f, "sg-1"); err == nil || !strings.Contains(err.Error(), "UnauthorizedOperation") {
		t.Errorf("err = %v", err)
	}
}

// TestThrottledCallsAreRetried: the real client, configured from the access
// options, rides out RequestLimitExceeded answers.
func TestThrottledCallsAreRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml")
		if calls.Add(1) <= 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, throttleBody)
			return
		}
		io.WriteString(w, `<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><imagesSet><item><imageId>ami-42</imageId><imageState>available</imageState></item></imagesSet></DescribeImagesResponse>`)
	}))
	defer srv.Close()
	access := &awsutil.AccessConfig{Region: "xx-test-1", AccessKey: "a", SecretKey: "b", CustomEndpointEC2: srv.URL}
	c, err := NewClients(access)(context.Background(), "xx-test-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeImages(context.Background(), &ec2.DescribeImagesInput{})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if len(out.Images) != 1 || aws.ToString(out.Images[0].ImageId) != "ami-42" || calls.Load() != 4 {
		t.Errorf("images %v after %d calls", out.Images, calls.Load())
	}
}

// TestShare: launch permissions for accounts, groups, organizations and
// OUs, snapshot permissions, IMDS support and deprecation, in every region.
func TestShare(t *testing.T) {
	home, away := &fakeEC2{}, &fakeEC2{}
	s := unitState(t, Config{
		AMIRegions: []string{"eu-west-1"}, AMIUsers: []string{"111"}, AMIGroups: []string{"all"},
		AMIOrgARNs: []string{"arn:org"}, AMIOUARNs: []string{"arn:ou"}, SnapshotUsers: []string{"222"},
		IMDSSupport: "v2.0", DeprecateAt: "2030-01-02T03:04:05Z",
	}, map[string]*fakeEC2{"us-east-1": home, "eu-west-1": away})
	s.images = map[string]string{"us-east-1": "ami-h", "eu-west-1": "ami-a"}
	s.snapshots = map[string][]string{"us-east-1": {"snap-h"}, "eu-west-1": {"snap-a"}}
	if err := stepShare(context.Background(), s, nil); err != nil {
		t.Fatal(err)
	}
	want := "share ami-a with 111,all,arn:org,arn:ou|share snapshot snap-a|imds v2.0|deprecate ami-a at 2030-01-02T03:04:05Z"
	if got := strings.Join(away.calls, "|"); got != want {
		t.Errorf("calls in eu-west-1:\n got %s\nwant %s", got, want)
	}
	if len(home.calls) != 4 {
		t.Errorf("calls in us-east-1: %v", home.calls)
	}
}

// TestKeyPairDebugWritesKeys0600: keys stay in memory, except under -debug,
// where both private keys are written with mode 0600.
func TestKeyPairDebugWritesKeys0600(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Chdir(t.TempDir())
		f := &fakeEC2{}
		s := unitState(t, Config{}, map[string]*fakeEC2{"us-east-1": f})
		s.env.Debug = debug
		u := &step.Undo{}
		if err := stepKeyPair(context.Background(), s, u); err != nil {
			t.Fatal(err)
		}
		want := "import kiln_unit tagged kiln:build-id,kiln:temporary,kiln:created-at,kiln:expires-at"
		if strings.Join(f.calls, "|") != want {
			t.Errorf("calls = %v", f.calls)
		}
		if s.login == nil || s.hostKey == nil || !strings.HasPrefix(s.userData, "#cloud-config") {
			t.Fatalf("keys or user data missing")
		}
		entries, _ := os.ReadDir(".")
		if !debug {
			if len(entries) != 0 || len(s.debugKeys) != 0 {
				t.Errorf("files written without -debug: %v", entries)
			}
			continue
		}
		if len(s.debugKeys) != 2 {
			t.Fatalf("debug keys = %v", s.debugKeys)
		}
		for _, p := range s.debugKeys {
			st, err := os.Stat(p)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, mode %v", p, err, st.Mode().Perm())
			}
		}
	}
}

func TestMentions(t *testing.T) {
	for text, want := range map[string]bool{
		"Created by CreateImage(i-1) for ami-12345678":                 true,
		"Created by CreateImage(i-1) for ami-12345678 from vol-1":      true,
		"Created by CreateImage(i-1) for ami-12345678abcdef0":          false,
		"Copied for DestinationAmi ami-123456789 from SourceAmi ami-0": false,
		"ami-12345678abc and later ami-12345678":                       true,
	} {
		if got := mentions(text, "ami-12345678"); got != want {
			t.Errorf("mentions(%q) = %v, want %v", text, got, want)
		}
	}
}

// TestCreateOutlivesCancel: a call that creates a resource is not sent once
// the build is cancelled, but once sent it is not cancelled with the build,
// so that its answer names what to remove.
func TestCreateOutlivesCancel(t *testing.T) {
	j := unitState(t, Config{}, nil).journal
	ctx, cancel := context.WithCancel(context.Background())
	out, err := create(ctx, j, "us-east-1", kindSecurityGroup, "sg", func(cctx context.Context, in string, _ ...func(*ec2.Options)) (string, error) {
		cancel() // the interrupt arrives while the call is in flight
		if err := cctx.Err(); err != nil {
			return "", err
		}
		return in + "-1", nil
	}, "sg")
	if err != nil || out != "sg-1" {
		t.Fatalf("create = %q, %v; want the answer despite the cancel", out, err)
	}
	_, err = create(ctx, j, "us-east-1", kindSecurityGroup, "sg", func(context.Context, string, ...func(*ec2.Options)) (string, error) {
		t.Error("a create call was sent after the build was cancelled")
		return "", nil
	}, "sg")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

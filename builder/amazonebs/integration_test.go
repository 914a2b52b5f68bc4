package amazonebs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/internal/testboot"
	"github.com/kilnhq/kiln/internal/testenv"
	"github.com/kilnhq/kiln/internal/testmoto"
)

const (
	buildRegion = "us-east-1"
	copyRegion  = "eu-west-1"
	shareWith   = "210987654321"
)

// rig is one integration test's world: moto, the boot player and a builder.
type rig struct {
	t       *testing.T
	moto    *testmoto.Server
	port    int
	source  string
	home    *ec2.Client // build region
	away    *ec2.Client // copy region
	journal string
	boot    *testboot.Player
	copies  bool // copy the image to copyRegion
	// apiOptions are added to every EC2 client the builder gets.
	apiOptions []func(*middleware.Stack) error
	// baseline holds what moto has before the build (its catalog's
	// snapshots belong to the test account).
	baseline map[*ec2.Client]map[string]bool
}

// left returns what c holds now that it did not hold before the build.
func (r *rig) left(c *ec2.Client) []string {
	var out []string
	for _, l := range leftovers(r.t, c) {
		if !r.baseline[c][l] {
			out = append(out, l)
		}
	}
	return out
}

func newRig(t *testing.T) *rig {
	t.Helper()
	moto := testmoto.Start(t)
	r := &rig{
		t: t, moto: moto, port: testenv.FreePort(t), journal: t.TempDir(),
		home: ec2.NewFromConfig(moto.Config(buildRegion)),
		away: ec2.NewFromConfig(moto.Config(copyRegion)), copies: true,
	}
	r.source = catalogAMI(t, r.home)
	r.baseline = map[*ec2.Client]map[string]bool{}
	for _, c := range []*ec2.Client{r.home, r.away} {
		r.baseline[c] = map[string]bool{}
		for _, l := range leftovers(t, c) {
			r.baseline[c][l] = true
		}
	}
	r.boot = testboot.Start(t, moto, buildRegion, r.port)
	return r
}

// hcl returns a source body for the rig, with extra attributes appended.
func (r *rig) hcl(extra string) string {
	u, _ := user.Current()
	copies := ""
	if r.copies {
		copies = fmt.Sprintf("%q", copyRegion)
	}
	return fmt.Sprintf(`
region              = %q
access_key          = "testing"
secret_key          = "testing"
custom_endpoint_ec2 = %q
source_ami          = %q
instance_type       = "t3.micro"
ami_name            = "kiln-test-{{ timestamp }}"
ami_description     = "from {{ .SourceAMIName }} in {{ .BuildRegion }}"
ami_regions         = [%s]
ami_users           = [%q]
snapshot_users      = [%q]
tags = {
  Name   = "kiln-test"
  Region = "{{ .BuildRegion }}"
  Source = "{{ .SourceAMI }}"
}
snapshot_tags = { Kind = "root" }
ssh_host     = "127.0.0.1"
ssh_port     = %d
ssh_username = %q
ssh_timeout  = "30s"
%s`, buildRegion, r.moto.Endpoint, r.source, copies, shareWith, shareWith, r.port, u.Username, extra)
}

// builder decodes src into a Builder wired to moto.
func (r *rig) builder(src string, f *faults) *Builder {
	r.t.Helper()
	b, diags := New(parseBody(r.t, src), nil)
	if diags.HasErrors() {
		r.t.Fatalf("decode: %s", diags.Error())
	}
	eb := b.(*Builder)
	opts := r.apiOptions
	if f != nil {
		opts = append(opts, f.middleware)
	}
	eb.clients = motoClients(r.moto, opts...)
	eb.journalDir = r.journal
	eb.waits.first, eb.waits.max = 10*time.Millisecond, 100*time.Millisecond
	eb.publicIP = func(context.Context) (string, error) { return "", errors.New("tests never look up public addresses") }
	return eb
}

// env returns a builder.Env whose events are collected.
func (r *rig) env(events event.Sink) *builder.Env {
	return &builder.Env{
		Info:   builder.Info{Name: "test.amazon-ebs.main", Type: Type, SourceName: "main", ID: "b" + strings.ReplaceAll(r.t.Name(), "/", "-"), Started: time.Unix(1767225600, 0)},
		Events: events,
	}
}

// assertClean fails the test if anything kiln could leave is left.
func (r *rig) assertClean() {
	r.t.Helper()
	for _, c := range []*ec2.Client{r.home, r.away} {
		if left := r.left(c); len(left) > 0 {
			r.t.Errorf("left behind: %s", strings.Join(left, "; "))
		}
	}
	if js, _ := awsutil.ReadJournals(r.journal); len(js) > 0 {
		r.t.Errorf("journal left with %d pending entries: %+v", len(js[0].Pending), js[0].Pending)
	}
}

// assertCleanExceptImages fails the test if anything but images and
// snapshots is left.
func (r *rig) assertCleanExceptImages() {
	r.t.Helper()
	for _, c := range []*ec2.Client{r.home, r.away} {
		for _, l := range r.left(c) {
			if !strings.HasPrefix(l, "image ") && !strings.HasPrefix(l, "snapshot ") {
				r.t.Errorf("left behind: %s", l)
			}
		}
	}
}

// provisionHook runs cmd over the communicator and keeps its output.
type provisionHook struct {
	cmd  string
	out  strings.Builder
	data map[string]string
}

func (h *provisionHook) Provision(ctx context.Context, comm communicator.Communicator, data map[string]string) error {
	h.data = data
	return comm.Run(ctx, &communicator.Cmd{Command: h.cmd, Stdout: &h.out, Stderr: &h.out})
}

func TestIntegrationHappyPath(t *testing.T) {
	start := time.Now()
	r := newRig(t)
	t.Logf("rig ready in %s", time.Since(start).Round(time.Millisecond))
	b := r.builder(r.hcl(""), nil)
	hook := &provisionHook{cmd: "echo provisioned-by-kiln"}
	events := &eventtest.Recorder{Logf: t.Logf}
	art, err := b.Run(context.Background(), r.env(events), hook)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if !strings.Contains(hook.out.String(), "provisioned-by-kiln") {
		t.Errorf("provisioner output = %q", hook.out.String())
	}
	a := art.(*Artifact)
	if len(a.Images) != 2 || a.Images[buildRegion] == "" || a.Images[copyRegion] == "" {
		t.Fatalf("images = %v, want one in %s and one in %s", a.Images, buildRegion, copyRegion)
	}
	want := fmt.Sprintf("%s:%s,%s:%s", copyRegion, a.Images[copyRegion], buildRegion, a.Images[buildRegion])
	if a.ID() != want {
		t.Errorf("ID = %q, want %q", a.ID(), want)
	}
	if got := a.State("source_image"); got != r.source {
		t.Errorf("source_image = %v, want %s", got, r.source)
	}
	ctx := context.Background()
	for region, c := range map[string]*ec2.Client{buildRegion: r.home, copyRegion: r.away} {
		id := a.Images[region]
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		if err != nil || len(out.Images) != 1 {
			t.Fatalf("describe %s: %v", id, err)
		}
		img := out.Images[0]
		if !strings.HasPrefix(aws.ToString(img.Name), "kiln-test-1767225600") {
			t.Errorf("%s: name %q, want the run's timestamp rendered", region, aws.ToString(img.Name))
		}
		tags := tagMap(img.Tags)
		if tags["Region"] != region || tags["Source"] != r.source || tags["Name"] != "kiln-test" {
			t.Errorf("%s: image tags %v", region, tags)
		}
		if tags[awsutil.TagTemporary] != "" || tags[awsutil.TagBuildID] == "" {
			t.Errorf("%s: image still marked temporary or lost its build ID: %v", region, tags)
		}
		snaps := a.Snapshots[region]
		if len(snaps) == 0 {
			t.Errorf("%s: no snapshots recorded", region)
		}
		so, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: snaps})
		if err != nil {
			t.Fatalf("describe snapshots: %v", err)
		}
		for _, s := range so.Snapshots {
			st := tagMap(s.Tags)
			if st["Kind"] != "root" || st["Region"] != region || st[awsutil.TagTemporary] != "" {
				t.Errorf("%s: snapshot %s tags %v", region, aws.ToString(s.SnapshotId), st)
			}
		}
		perm, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(id), Attribute: types.ImageAttributeNameLaunchPermission})
		if err != nil {
			t.Fatalf("describe launch permission: %v", err)
		}
		if len(perm.LaunchPermissions) != 1 || aws.ToString(perm.LaunchPermissions[0].UserId) != shareWith {
			t.Errorf("%s: launch permissions %+v, want %s", region, perm.LaunchPermissions, shareWith)
		}
	}
	desc, _ := r.home.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{a.Images[buildRegion]}})
	if d := aws.ToString(desc.Images[0].Description); !strings.Contains(d, "in us-east-1") || strings.Contains(d, "{{") {
		t.Errorf("description %q not rendered", d)
	}
	r.assertCleanExceptImages()
	if r.boot.Booted() != 1 {
		t.Errorf("boot player saw %d instances, want 1", r.boot.Booted())
	}
	if err := a.Destroy(ctx); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	r.assertClean()
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// TestIntegrationFailures injects a failure at each step in turn and checks
// that nothing temporary is left.
func TestIntegrationFailures(t *testing.T) {
	cases := []struct {
		name string
		op   string // EC2 operation to fail
		nth  int
		cmd  string // provisioner command
		stop string // cancel when this step starts
	}{
		{name: "source-ami", op: "DescribeImages", nth: 1},
		{name: "import-key", op: "ImportKeyPair", nth: 1},
		{name: "create-sg", op: "CreateSecurityGroup", nth: 1},
		{name: "authorize-sg", op: "AuthorizeSecurityGroupIngress", nth: 1},
		{name: "run-instances", op: "RunInstances", nth: 1},
		{name: "describe-instance", op: "DescribeInstances", nth: 1},
		{name: "provisioner-exit-1", cmd: "echo failing; exit 1"},
		{name: "stop", op: "StopInstances", nth: 1},
		{name: "create-image", op: "CreateImage", nth: 1},
		{name: "tag-snapshots", op: "CreateTags", nth: 1},
		{name: "copy-image", op: "CopyImage", nth: 1},
		{name: "share", op: "ModifyImageAttribute", nth: 1},
		{name: "share-snapshot", op: "ModifySnapshotAttribute", nth: 1},
		{name: "untag", op: "DeleteTags", nth: 1},
	}
	// Cancellation (the CLI's SIGINT) as each step starts.
	for _, st := range steps() {
		cases = append(cases, struct {
			name, op  string
			nth       int
			cmd, stop string
		}{name: "cancel-at-" + st.Name, stop: st.Name})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each case has its own moto_server and sshd port
			r := newRig(t)
			var f *faults
			if tc.op != "" {
				f = &faults{op: tc.op, nth: tc.nth}
			}
			b := r.builder(r.hcl(""), f)
			cmd := tc.cmd
			if cmd == "" {
				cmd = "true"
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var events event.Sink = &eventtest.Recorder{Logf: t.Logf}
			if tc.stop != "" {
				events = event.SinkFunc(func(e event.Event) {
					if s, ok := e.(*event.StepStarted); ok && s.Step == tc.stop {
						cancel()
					}
				})
			}
			art, err := b.Run(ctx, r.env(events), &provisionHook{cmd: cmd})
			if err == nil {
				t.Fatalf("build succeeded (%v), want a failure", art.ID())
			}
			if f != nil && !f.failed {
				t.Fatalf("the fault was never injected: %v", err)
			}
			t.Logf("build failed as wanted: %v", err)
			r.assertClean()
		})
	}
}

// TestIntegrationUserData checks that user data of the user's reaches the
// instance alongside kiln's keys, and that SSH still works.
func TestIntegrationUserData(t *testing.T) {
	r := newRig(t)
	r.copies = false
	b := r.builder(r.hcl(`user_data = "#!/bin/sh\necho hello > /tmp/hello\n"`), nil)
	hook := &provisionHook{cmd: "true"}
	art, err := b.Run(context.Background(), r.env(&eventtest.Recorder{}), hook)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if got := len(art.(*Artifact).Images); got != 1 {
		t.Errorf("images = %d, want 1", got)
	}
	if hook.data["ID"] == "" || hook.data["SourceAMI"] != r.source || hook.data["BuildRegion"] != buildRegion {
		t.Errorf("hook data = %v", hook.data)
	}
	raw, ok := r.boot.UserData(hook.data["ID"])
	if !ok || !strings.Contains(raw, "echo hello > /tmp/hello") || !strings.Contains(raw, "text/x-shellscript") {
		t.Errorf("user data lacks the user's script:\n%s", raw)
	}
	r.assertCleanExceptImages()
}

// TestIntegrationSpot launches through an instant fleet over a temporary
// launch template, and removes both.
func TestIntegrationSpot(t *testing.T) {
	r := newRig(t)
	r.copies = false
	b := r.builder(r.hcl(`
spot_price          = "auto"
spot_instance_types = ["t3.micro", "t3a.micro"]
`), nil)
	hook := &provisionHook{cmd: "true"}
	if _, err := b.Run(context.Background(), r.env(&eventtest.Recorder{}), hook); err != nil {
		t.Fatalf("build: %v", err)
	}
	out, err := r.home.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{hook.data["ID"]}})
	if err != nil || out.Reservations[0].Instances[0].InstanceLifecycle != types.InstanceLifecycleTypeSpot {
		t.Errorf("instance %s is not a spot instance: %v", hook.data["ID"], err)
	}
	r.assertCleanExceptImages()
}

// TestIntegrationNameTaken: an ami_name taken in a copy region stops the
// build before anything is launched; force_deregister replaces the image.
func TestIntegrationNameTaken(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	src := strings.Replace(r.hcl(""), `"kiln-test-{{ timestamp }}"`, `"kiln-fixed"`, 1)
	old, err := r.away.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("kiln-fixed"), RootDeviceName: aws.String("/dev/sda1")})
	if err != nil {
		t.Fatalf("register the old image: %v", err)
	}
	for _, l := range leftovers(t, r.away) { // the old image and what moto made for it
		r.baseline[r.away][l] = true
	}
	if !r.baseline[r.away]["image "+aws.ToString(old.ImageId)] {
		t.Fatal("the old image is not visible")
	}
	_, err = r.builder(src, nil).Run(ctx, r.env(&eventtest.Recorder{}), &provisionHook{cmd: "true"})
	if err == nil || !strings.Contains(err.Error(), "already exists in eu-west-1") {
		t.Fatalf("err = %v, want the taken name reported", err)
	}
	if r.boot.Booted() != 0 {
		t.Error("an instance was launched although the name was taken")
	}
	r.assertClean()

	b := r.builder(src+"force_deregister = true\nforce_delete_snapshot = true\n", nil)
	art, err := b.Run(ctx, r.env(&eventtest.Recorder{}), &provisionHook{cmd: "true"})
	if err != nil {
		t.Fatalf("build with force_deregister: %v", err)
	}
	out, err := r.away.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"kiln-fixed"}}}})
	if err != nil || len(out.Images) != 1 || aws.ToString(out.Images[0].ImageId) != art.(*Artifact).Images[copyRegion] {
		t.Errorf("images named kiln-fixed in %s: %+v, %v; want only the new one", copyRegion, out, err)
	}
}

// TestIntegrationOwnKeyPair logs in with an existing key pair
// (ssh_keypair_name + ssh_private_key_file); kiln creates no key pair but
// still injects and verifies the host key.
func TestIntegrationOwnKeyPair(t *testing.T) {
	r := newRig(t)
	r.copies = false
	signer, pemBytes, err := newKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.home.ImportKeyPair(context.Background(), &ec2.ImportKeyPairInput{
		KeyName: aws.String("mine"), PublicKeyMaterial: []byte(authorizedKey(signer.PublicKey())),
	}); err != nil {
		t.Fatal(err)
	}
	r.baseline[r.home]["key pair mine"] = true
	b := r.builder(r.hcl(fmt.Sprintf("ssh_keypair_name = \"mine\"\nssh_private_key_file = %q\n", keyFile)), nil)
	hook := &provisionHook{cmd: "echo own-key"}
	if _, err := b.Run(context.Background(), r.env(&eventtest.Recorder{}), hook); err != nil {
		t.Fatalf("build: %v", err)
	}
	if !strings.Contains(hook.out.String(), "own-key") {
		t.Errorf("output %q", hook.out.String())
	}
	raw, _ := r.boot.UserData(hook.data["ID"])
	if strings.Contains(raw, "ssh_authorized_keys") {
		t.Errorf("user data carries a login key although the key pair provides it:\n%s", raw)
	}
	r.assertCleanExceptImages()
}

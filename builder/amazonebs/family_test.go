package amazonebs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/build"
	"github.com/kilnhq/kiln/family"
	"github.com/kilnhq/kiln/family/awscatalog"
	"github.com/kilnhq/kiln/internal/testboot"
	"github.com/kilnhq/kiln/internal/testenv"
	"github.com/kilnhq/kiln/internal/testmoto"
	"github.com/kilnhq/kiln/template"
)

const familyTemplate = `
variable "test_cmd" {
  type    = string
  default = "true"
}
variable "keep" {
  type    = number
  default = 0
}
source "amazon-ebs" "web" {
  region                                = "us-east-1"
  access_key                            = "testing"
  secret_key                            = "testing"
  custom_endpoint_ec2                   = %q
  source_ami                            = %q
  instance_type                         = "t3.micro"
  ami_regions                           = ["eu-west-1"]
  temporary_security_group_source_cidrs = ["127.0.0.1/32"]
  tags                                  = { Name = "web" }
  ssh_host                              = "127.0.0.1"
  ssh_port                              = %d
  ssh_username                          = %q
  ssh_timeout                           = "30s"
}
build {
  sources = ["source.amazon-ebs.web"]
  family {
    name    = "web"
    keep    = var.keep
    channel = "candidate"
    test {
      provisioner "shell" {
        inline = [var.test_cmd]
      }
    }
  }
  provisioner "shell" {
    script = "${path.root}/setup.sh"
  }
}
`

// familyWorld is moto, the boot player and a template directory in a git
// work tree.
type familyWorld struct {
	t    testing.TB
	dir  string
	ec2  *ec2.Client
	away *ec2.Client // the copy region
	ssm  *ssm.Client
	boot *testboot.Player
	cat  *awscatalog.Catalog
}

func newFamilyWorld(t testing.TB) *familyWorld {
	moto := testmoto.Start(t)
	t.Setenv("AWS_ENDPOINT_URL_SSM", moto.Endpoint)
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the journal
	port := testenv.FreePort(t)
	w := &familyWorld{
		t: t, dir: t.TempDir(),
		ec2:  ec2.NewFromConfig(moto.Config("us-east-1")),
		away: ec2.NewFromConfig(moto.Config("eu-west-1")),
		ssm:  ssm.NewFromConfig(moto.Config("us-east-1"), func(o *ssm.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) }),
	}
	out, err := w.ec2.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Filters: []types.Filter{
		{Name: aws.String("root-device-type"), Values: []string{"ebs"}},
		{Name: aws.String("name"), Values: []string{"*ubuntu*"}},
	}})
	if err != nil || len(out.Images) == 0 {
		t.Fatalf("find a catalog image in moto: %v", err)
	}
	u, _ := user.Current()
	w.write("web.pkr.hcl", fmt.Sprintf(familyTemplate, moto.Endpoint, aws.ToString(out.Images[0].ImageId), port, u.Username))
	w.write("setup.sh", "#!/bin/sh\necho setting up\n")
	if git, err := exec.LookPath("git"); err == nil {
		for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "t"}} {
			if out, err := exec.Command(git, append([]string{"-C", w.dir}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("git %v: %v\n%s", args, err, out)
			}
		}
	}
	w.boot = testboot.Start(t, moto, "us-east-1", port)
	w.cat, err = awscatalog.NewFromConfig(moto.Config("us-east-1"), moto.Endpoint, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *familyWorld) write(name, content string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, name), []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// build runs the template with vars and returns the result, its error and
// kiln's time.
func (w *familyWorld) build(vars ...string) (*build.Result, time.Duration, error) {
	w.t.Helper()
	tpl, diags := kiln.Load(w.dir, template.WithVars(vars...))
	if diags.HasErrors() {
		w.t.Fatalf("load: %s", diags.Error())
	}
	start := time.Now()
	res, err := kiln.Build(context.Background(), tpl)
	return res, time.Since(start), err
}

func artifactID(t testing.TB, res *build.Result) string {
	t.Helper()
	if res == nil || len(res.Builds) != 1 || len(res.Builds[0].Artifacts) == 0 {
		t.Fatalf("no artifact: %+v", res)
	}
	return res.Builds[0].Artifacts[0].ID()
}

func (w *familyWorld) versions() map[string]family.Image {
	w.t.Helper()
	imgs, err := w.cat.Images(context.Background(), "web")
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]family.Image{}
	for _, img := range imgs {
		out[img.Version] = img
	}
	return out
}

func (w *familyWorld) parameter(channel string) string {
	w.t.Helper()
	return w.parameterIn("us-east-1", channel)
}

func (w *familyWorld) parameterIn(region, channel string) string {
	w.t.Helper()
	out, err := w.ssm.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(awscatalog.ParameterName("web", channel))},
		func(o *ssm.Options) { o.Region = region })
	if err != nil {
		w.t.Fatalf("read channel %s: %v", channel, err)
	}
	return aws.ToString(out.Parameter.Value)
}

func (w *familyWorld) snapshotExists(c *ec2.Client, id string) bool {
	out, err := c.DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{
		Filters: []types.Filter{{Name: aws.String("snapshot-id"), Values: []string{id}}},
	})
	if err != nil {
		w.t.Fatalf("describe snapshot %s: %v", id, err)
	}
	return len(out.Snapshots) > 0
}

// TestFamilyOnMoto runs the immutable workflow against moto: build, a
// no-op rebuild, a changed script, promote and roll back, retention and a
// failing test block.
func TestFamilyOnMoto(t *testing.T) {
	w := newFamilyWorld(t)
	ctx := context.Background()

	// 1.0.0: built, tested on a second instance, promoted to candidate.
	res, _, err := w.build()
	if err != nil {
		t.Fatalf("first build: %v", err)
	}
	first := artifactID(t, res)
	if n := w.boot.Booted(); n != 2 {
		t.Errorf("first build booted %d instances, want 2 (build, test)", n)
	}
	v := w.versions()
	img, ok := v["1.0.0"]
	if !ok || len(v) != 1 {
		t.Fatalf("versions after the first build: %v", v)
	}
	if img.Name != "web-1.0.0" || img.Status != family.StatusTested || !strings.HasPrefix(img.Inputs, "sha256:") {
		t.Errorf("1.0.0: name %q status %q inputs %q", img.Name, img.Status, img.Inputs)
	}
	for _, k := range []string{family.TagSourceImage, family.TagBuiltAt, family.TagKilnVersion, family.TagGitCommit, family.TagGitDirty} {
		if img.Tags[k] == "" {
			t.Errorf("1.0.0 lacks tag %s: %v", k, img.Tags)
		}
	}
	if img.Tags["Name"] != "web" {
		t.Errorf("template tags lost: %v", img.Tags)
	}
	if head, err := exec.Command("git", "-C", w.dir, "rev-parse", "HEAD").Output(); err != nil {
		t.Fatalf("git rev-parse: %v", err)
	} else if img.Tags[family.TagGitCommit] != strings.TrimSpace(string(head)) || img.Tags[family.TagGitDirty] != "false" {
		t.Errorf("git lineage %s=%q %s=%q, want the template's HEAD %s, clean", family.TagGitCommit, img.Tags[family.TagGitCommit], family.TagGitDirty, img.Tags[family.TagGitDirty], head)
	}
	snaps := img.Snapshots["us-east-1"]
	if len(snaps) == 0 {
		t.Fatal("1.0.0 has no snapshot")
	}
	st, err := w.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: snaps})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Snapshots {
		tags := map[string]string{}
		for _, tg := range s.Tags {
			tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		if tags[family.TagVersion] != "1.0.0" || tags[family.TagInputs] != img.Inputs || tags[family.TagStatus] != family.StatusTested {
			t.Errorf("snapshot %s lineage tags: %v", aws.ToString(s.SnapshotId), tags)
		}
	}
	if got := w.parameter("candidate"); got != img.IDs["us-east-1"] {
		t.Errorf("candidate = %s, want %s", got, img.IDs["us-east-1"])
	}
	if len(img.IDs) != 2 || img.IDs["eu-west-1"] == "" || len(img.Snapshots["eu-west-1"]) == 0 {
		t.Errorf("1.0.0 is not in both regions with its snapshots: %v %v", img.IDs, img.Snapshots)
	}
	if got := w.parameterIn("eu-west-1", "candidate"); got != img.IDs["eu-west-1"] {
		t.Errorf("candidate in eu-west-1 = %s, want the copy %s", got, img.IDs["eu-west-1"])
	}

	// Unchanged: nothing is launched, the same AMI comes back.
	res, took, err := w.build()
	if err != nil {
		t.Fatalf("unchanged build: %v", err)
	}
	if got := artifactID(t, res); got != first {
		t.Errorf("unchanged build returned %s, want %s", got, first)
	}
	if n := w.boot.Booted(); n != 2 {
		t.Errorf("unchanged build launched instances: %d booted in all", n)
	}
	t.Logf("unchanged rebuild: kiln's time %s", took.Round(time.Millisecond))

	// One byte of the script changed: 1.0.1.
	w.write("setup.sh", "#!/bin/sh\necho setting up!\n")
	if _, _, err := w.build(); err != nil {
		t.Fatalf("changed build: %v", err)
	}
	v = w.versions()
	if _, ok := v["1.0.1"]; !ok || len(v) != 2 {
		t.Fatalf("versions after a changed script: %v", v)
	}
	if v["1.0.1"].Inputs == v["1.0.0"].Inputs {
		t.Error("the changed script did not change the inputs digest")
	}

	// Promote then roll back: the parameter moves, its history holds
	// every move.
	if _, err := family.Promote(ctx, w.cat, "web", "1.0.0", "stable"); err != nil {
		t.Fatal(err)
	}
	if _, err := family.Promote(ctx, w.cat, "web", "1.0.1", "stable"); err != nil {
		t.Fatal(err)
	}
	if got := w.parameter("stable"); got != v["1.0.1"].IDs["us-east-1"] {
		t.Errorf("stable after promote = %s, want 1.0.1's %s", got, v["1.0.1"].IDs["us-east-1"])
	}
	back, err := family.Rollback(ctx, w.cat, "web", "stable")
	if err != nil || back.Version != "1.0.0" {
		t.Fatalf("rollback: %v, %v", back.Version, err)
	}
	if got := w.parameter("stable"); got != v["1.0.0"].IDs["us-east-1"] {
		t.Errorf("stable after rollback = %s, want 1.0.0's %s", got, v["1.0.0"].IDs["us-east-1"])
	}
	hist, err := w.cat.History(ctx, "web", "stable")
	if err != nil {
		t.Fatal(err)
	}
	var moves []string
	for _, m := range hist {
		moves = append(moves, m.Version)
	}
	if strings.Join(moves, " ") != "1.0.0 1.0.1 1.0.0" {
		t.Errorf("stable history = %v, want 1.0.0 1.0.1 1.0.0", moves)
	}
	chs, err := w.cat.Channels(ctx, "web")
	if err != nil || chs["stable"] != "1.0.0" || chs["candidate"] != "1.0.1" {
		t.Errorf("channels = %v, %v", chs, err)
	}

	// Two more versions with keep = 2: 1.0.1 (oldest unreferenced) goes
	// with its snapshots; 1.0.0 stays, stable points at it.
	w.write("setup.sh", "#!/bin/sh\necho setting up 2\n")
	if _, _, err := w.build(); err != nil {
		t.Fatalf("third build: %v", err)
	}
	w.write("setup.sh", "#!/bin/sh\necho setting up 3\n")
	if _, _, err := w.build("keep=2"); err != nil {
		t.Fatalf("fourth build: %v", err)
	}
	after := w.versions()
	var got []string
	for _, ver := range []string{"1.0.0", "1.0.1", "1.0.2", "1.0.3"} {
		if _, ok := after[ver]; ok {
			got = append(got, ver)
		}
	}
	if strings.Join(got, " ") != "1.0.0 1.0.2 1.0.3" {
		t.Errorf("versions after keep = 2: %v, want 1.0.0 1.0.2 1.0.3", got)
	}
	for region, c := range map[string]*ec2.Client{"us-east-1": w.ec2, "eu-west-1": w.away} {
		for _, s := range v["1.0.1"].Snapshots[region] {
			if w.snapshotExists(c, s) {
				t.Errorf("snapshot %s of the pruned 1.0.1 still exists in %s", s, region)
			}
		}
		for _, s := range v["1.0.0"].Snapshots[region] {
			if !w.snapshotExists(c, s) {
				t.Errorf("snapshot %s of 1.0.0 (stable) was deleted in %s", s, region)
			}
		}
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{v["1.0.1"].IDs[region]}})
		if err == nil && len(out.Images) > 0 && out.Images[0].State != types.ImageStateDeregistered {
			t.Errorf("the pruned 1.0.1 is still registered in %s", region)
		}
	}

	// A failing test block: failed-test, not promoted, the build fails.
	candidate := w.parameter("candidate")
	if _, _, err := w.build("test_cmd=exit 3"); err == nil {
		t.Fatal("a build whose test failed succeeded")
	}
	failed, ok := w.versions()["1.0.4"]
	if !ok || failed.Status != family.StatusFailedTest {
		t.Fatalf("1.0.4 after a failing test: %+v (found %v)", failed, ok)
	}
	if got := w.parameter("candidate"); got != candidate {
		t.Errorf("candidate moved to %s after a failed test", got)
	}
	if _, err := family.Promote(ctx, w.cat, "web", "1.0.4", "stable"); err == nil {
		t.Error("a failed-test version was promoted")
	}
	ins, err := w.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopped"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ins.Reservations); n != 0 {
		t.Errorf("%d reservations with live instances left", n)
	}

	// What runs or would launch is in use: retention keeps it.
	after = w.versions()
	if _, err := w.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("web-servers"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(after["1.0.2"].IDs["us-east-1"]), InstanceType: types.InstanceTypeT3Micro},
	}); err != nil {
		t.Fatal(err)
	}
	run, err := w.ec2.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(after["1.0.3"].IDs["us-east-1"]), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(run.Instances[0].InstanceId)}})
	inUse, err := w.cat.InUse(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(inUse["1.0.2"], "launch template web-servers") || !strings.Contains(inUse["1.0.3"], "instance i-") || len(inUse) != 2 {
		t.Errorf("in use: %v", inUse)
	}
	plan, err := family.Prune(ctx, w.cat, "web", 1, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range plan {
		if d.Remove {
			t.Errorf("prune -keep 1 would remove %s (%s); every older version is referenced", d.Image.Version, d.Reason)
		}
	}
}

// BenchmarkFamilyUnchangedRebuild measures kiln's own time for a build
// whose inputs did not change: load, plan, resolve the source AMI, digest
// the inputs, find the image with the same digest in moto, return it.
func BenchmarkFamilyUnchangedRebuild(b *testing.B) {
	w := newFamilyWorld(b)
	res, _, err := w.build()
	if err != nil {
		b.Fatal(err)
	}
	first := artifactID(b, res)
	booted := w.boot.Booted()
	b.ResetTimer()
	for range b.N {
		res, _, err := w.build()
		if err != nil || artifactID(b, res) != first {
			b.Fatalf("rebuild: %v", err)
		}
	}
	b.StopTimer()
	if n := w.boot.Booted(); n != booted {
		b.Errorf("unchanged rebuilds booted %d instances", n-booted)
	}
}

// TestFamilyNames: with a family, ami_name may be left out (FAMILY-VERSION)
// or written with ${family.version}; a name without the version fails the
// build before anything is launched. Another attribute that uses
// family.version is an error: the source is decoded once, before the
// version is known.
func TestFamilyNames(t *testing.T) {
	src := func(name string) string {
		return `
source "amazon-ebs" "web" {
  region        = "us-east-1"
  source_ami    = "ami-12345678"
  instance_type = "t3.micro"
  ` + name + `
}
build {
  sources = ["source.amazon-ebs.web"]
  family {
    name = "web"
  }
}
`
	}
	for name, want := range map[string]string{
		``:                                     "",
		`ami_name = "web-${family.version}-x"`: "",
		`ami_name = "web-{{ timestamp }}"`:     "",
		`ami_name = "web-${family.versions}"`:  "Unsupported attribute",
		"ami_name = \"web-${family.version}\"\n  ami_description = \"web ${family.version}\"": "family.version cannot be used in ami_description",
		`ami_description = "a ${family.name} image"`:                                          "",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(src(name)), 0o644); err != nil {
			t.Fatal(err)
		}
		tpl, diags := kiln.Load(dir)
		if !diags.HasErrors() {
			diags = kiln.Validate(tpl)
		}
		if got := diags.Error(); (want == "") != !diags.HasErrors() || (want != "" && !strings.Contains(got, want)) {
			t.Errorf("%s: diagnostics %q, want %q", name, got, want)
		}
	}
}

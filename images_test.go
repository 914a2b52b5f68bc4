package kiln_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/family"
)

// registerVersion registers an AMI of family web at version, with
// lineage tags on it and its snapshot, and returns the AMI ID.
func registerVersion(t *testing.T, c *ec2.Client, version string) string {
	t.Helper()
	ctx := context.Background()
	reg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("web-" + version), RootDeviceName: aws.String("/dev/sda1")})
	if err != nil {
		t.Fatalf("register image: %v", err)
	}
	ids := []string{aws.ToString(reg.ImageId)}
	desc, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: ids})
	if err != nil || len(desc.Images) != 1 {
		t.Fatalf("describe image %s: %v", ids[0], err)
	}
	for _, m := range desc.Images[0].BlockDeviceMappings {
		if m.Ebs != nil && m.Ebs.SnapshotId != nil {
			ids = append(ids, *m.Ebs.SnapshotId)
		}
	}
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids, Tags: []types.Tag{
		tag(family.TagFamily, "web"), tag(family.TagVersion, version), tag(family.TagStatus, family.StatusTested),
	}})
	if err != nil {
		t.Fatalf("tag %v: %v", ids, err)
	}
	return ids[0]
}

// versions returns the versions of imgs, and the channels of each as
// "VERSION=CH,CH".
func versions(imgs []kiln.FamilyImage) (vs, chs []string) {
	for _, img := range imgs {
		vs = append(vs, img.Version)
		if len(img.Channels) > 0 {
			chs = append(chs, img.Version+"="+strings.Join(img.Channels, ","))
		}
	}
	return vs, chs
}

// exerciseCatalog lists, promotes, rolls back and prunes family web, whose
// versions 1.0.0, 1.0.1 and 1.0.2 cat holds, and returns what the prune
// decided.
func exerciseCatalog(t *testing.T, cat *kiln.Catalog) []family.Decision {
	t.Helper()
	ctx := context.Background()
	imgs, err := cat.Images(ctx, "web")
	if vs, chs := versions(imgs); err != nil || !slices.Equal(vs, []string{"1.0.0", "1.0.1", "1.0.2"}) || chs != nil {
		t.Fatalf("Images: %v %v, %v; want 1.0.0 to 1.0.2 without channels", vs, chs, err)
	}
	for _, p := range [][2]string{{"1.0.1", "stable"}, {"1.0.2", "stable"}, {"1.0.1", "beta"}, {"1.0.1", "alpha"}} {
		img, err := cat.Promote(ctx, "web", p[0], p[1])
		if err != nil || img.Version != p[0] {
			t.Fatalf("Promote %s to %s: %v, %v", p[0], p[1], img.Version, err)
		}
	}
	imgs, err = cat.Images(ctx, "web")
	if _, chs := versions(imgs); err != nil || !slices.Equal(chs, []string{"1.0.1=alpha,beta", "1.0.2=stable"}) {
		t.Errorf("channels after promoting: %v, %v", chs, err)
	}
	if _, err := cat.Promote(ctx, "web", "9.9.9", "stable"); !errors.Is(err, family.ErrNotFound) {
		t.Errorf("Promote of a missing version: %v, want family.ErrNotFound", err)
	}
	img, err := cat.Rollback(ctx, "web", "stable")
	if err != nil || img.Version != "1.0.1" {
		t.Fatalf("Rollback stable: %v, %v; want 1.0.1", img.Version, err)
	}
	imgs, err = cat.Images(ctx, "web")
	if _, chs := versions(imgs); err != nil || !slices.Equal(chs, []string{"1.0.1=alpha,beta,stable"}) {
		t.Errorf("channels after the rollback: %v, %v", chs, err)
	}
	removed := func(plan []family.Decision) (out []string) {
		for _, d := range plan {
			if d.Remove {
				out = append(out, d.Image.Version)
			}
		}
		return out
	}
	plan, err := cat.Prune(ctx, "web", 1, true)
	if err != nil || len(plan) != 3 || !slices.Equal(removed(plan), []string{"1.0.0"}) {
		t.Fatalf("Prune dry run: %+v, %v; want 1.0.0 of 3 removed", plan, err)
	}
	if imgs, _ := cat.Images(ctx, "web"); len(imgs) != 3 {
		t.Fatalf("the dry run removed a version: %d left", len(imgs))
	}
	plan, err = cat.Prune(ctx, "web", 1, false)
	if err != nil || !slices.Equal(removed(plan), []string{"1.0.0"}) {
		t.Fatalf("Prune: %+v, %v; want 1.0.0 removed", plan, err)
	}
	imgs, err = cat.Images(ctx, "web")
	if vs, _ := versions(imgs); err != nil || !slices.Equal(vs, []string{"1.0.1", "1.0.2"}) {
		t.Errorf("versions after Prune: %v, %v", vs, err)
	}
	return plan
}

// TestCatalogAWS works with family web on moto_server's EC2 and SSM
// through kiln.OpenCatalog, in the region AWS_REGION names.
func TestCatalogAWS(t *testing.T) {
	moto, _ := useMoto(t, "us-east-1")
	c := ec2.NewFromConfig(moto.Config("us-east-1"))
	amis := map[string]string{}
	for _, v := range []string{"1.0.0", "1.0.1", "1.0.2"} {
		amis[v] = registerVersion(t, c, v)
	}
	cat, err := kiln.OpenCatalog(context.Background(), kiln.CatalogOptions{})
	if err != nil {
		t.Fatalf("OpenCatalog: %v", err)
	}
	plan := exerciseCatalog(t, cat)
	if got := plan[0].Image.IDs["us-east-1"]; got != amis["1.0.0"] {
		t.Errorf("pruned image %s, want 1.0.0's AMI %s", got, amis["1.0.0"])
	}
	out, err := c.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{amis["1.0.0"]}})
	if err == nil && len(out.Images) > 0 {
		t.Errorf("1.0.0's AMI %s is still registered", amis["1.0.0"])
	}
}

// TestCatalogAWSRegion: the catalog's home region comes from Regions, and
// without any region OpenCatalog fails.
func TestCatalogAWSRegion(t *testing.T) {
	moto, _ := useMoto(t, "")
	ctx := context.Background()
	if _, err := kiln.OpenCatalog(ctx, kiln.CatalogOptions{}); err == nil || !strings.Contains(err.Error(), "region") {
		t.Errorf("OpenCatalog without a region: %v; want an error about the region", err)
	}
	registerVersion(t, ec2.NewFromConfig(moto.Config("eu-west-1")), "2.0.0")
	cat, err := kiln.OpenCatalog(ctx, kiln.CatalogOptions{AWS: kiln.AWS{Regions: []string{"eu-west-1"}}})
	if err != nil {
		t.Fatalf("OpenCatalog in eu-west-1: %v", err)
	}
	imgs, err := cat.Images(ctx, "web")
	if err != nil || len(imgs) != 1 || imgs[0].IDs["eu-west-1"] == "" {
		t.Errorf("Images in eu-west-1: %+v, %v", imgs, err)
	}
}

// TestCatalogLocal works with family web in a local output root.
func TestCatalogLocal(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"1.0.0", "1.0.1", "1.0.2"} {
		dir := filepath.Join(root, "web-"+v)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		disk := "web-" + v + ".qcow2"
		if err := os.WriteFile(filepath.Join(dir, disk), []byte("disk "+v), 0o644); err != nil {
			t.Fatal(err)
		}
		sc := family.Sidecar{Family: "web", Version: v, Name: "web-" + v, Files: []string{disk}, Tags: map[string]string{family.TagStatus: family.StatusBuilt}}
		if err := family.WriteSidecar(dir, sc); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if _, err := kiln.OpenCatalog(ctx, kiln.CatalogOptions{Dir: filepath.Join(root, "missing")}); err == nil || !strings.Contains(err.Error(), "output root") {
		t.Errorf("OpenCatalog of a missing directory: %v", err)
	}
	cat, err := kiln.OpenCatalog(ctx, kiln.CatalogOptions{Dir: root})
	if err != nil {
		t.Fatalf("OpenCatalog: %v", err)
	}
	exerciseCatalog(t, cat)
	if _, err := os.Stat(filepath.Join(root, "web-1.0.0")); !os.IsNotExist(err) {
		t.Errorf("web-1.0.0 survived the prune: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "web-1.0.1", "web-1.0.1.qcow2")); err != nil {
		t.Errorf("web-1.0.1 (on channels) was removed: %v", err)
	}
}

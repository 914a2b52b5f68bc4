package amazonebs

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/internal/testmoto"
)

// deadJournal writes the journal of build, whose process is gone, holding
// entries.
func deadJournal(t *testing.T, dir, build string, entries ...awsutil.Entry) string {
	t.Helper()
	host, _ := os.Hostname()
	// PID 0x7ffffffe does not exist.
	lines := []any{map[string]any{"build": build, "pid": 2147483646, "host": host, "start": time.Now().UTC()}}
	for _, e := range entries {
		lines = append(lines, e)
	}
	var b []byte
	for _, l := range lines {
		j, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		b = append(append(b, j...), '\n')
	}
	path := filepath.Join(dir, build+".jsonl")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestIntegrationCleanByIntent: a build killed while CopyImage's answer was
// in flight journaled only the intent (the copy's name); the copy exists,
// tagged when EC2 honoured the tag specifications, untagged when it dropped
// them (as moto does). Clean finds each by its name in the copy region and
// removes it with its snapshot, and removes the journals only then (not
// after a sweep of another region). An image of that name made before the
// intent is not the build's and stays.
func TestIntegrationCleanByIntent(t *testing.T) {
	moto := testmoto.Start(t)
	ctx := context.Background()
	home := ec2.NewFromConfig(moto.Config(buildRegion))
	away := ec2.NewFromConfig(moto.Config(copyRegion))
	source := catalogAMI(t, home)
	copyAs := func(name string) string {
		out, err := away.CopyImage(ctx, &ec2.CopyImageInput{Name: aws.String(name), SourceImageId: aws.String(source), SourceRegion: aws.String(buildRegion)})
		if err != nil {
			t.Fatalf("copy image as %s: %v", name, err)
		}
		return aws.ToString(out.ImageId)
	}
	intent := func(name string, at time.Time) awsutil.Entry {
		return awsutil.Entry{Time: at, Op: awsutil.OpIntent, Region: copyRegion, Kind: kindImage, Token: name}
	}
	dir := t.TempDir()
	now := time.Now().UTC()
	// Someone else's image of that name, older than the intent: the
	// build's call must have been refused.
	theirs := copyAs("kiln-taken")
	deadJournal(t, dir, "dead-refused", intent("kiln-taken", now.Add(time.Hour)))
	baseline := map[string]bool{}
	for _, l := range leftovers(t, away) {
		baseline[l] = true
	}

	// Untagged: moto dropped the copy's tag specifications.
	untagged := copyAs("kiln-untagged")
	deadJournal(t, dir, "dead-untagged", intent("kiln-untagged", now))
	// Tagged at creation, as EC2 does.
	tagged := copyAs("kiln-tagged")
	if _, err := away.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{tagged}, Tags: awsutil.TempTags("dead-tagged", now, time.Hour)}); err != nil {
		t.Fatal(err)
	}
	deadJournal(t, dir, "dead-tagged", intent("kiln-tagged", now))

	access := AccessConfig{Region: buildRegion, AccessKey: "testing", SecretKey: "testing", CustomEndpointEC2: moto.Endpoint}
	// A sweep of another region leaves the journals alone.
	rep, err := Clean(ctx, CleanOptions{Access: access, Regions: []string{buildRegion}, JournalDir: dir})
	if err != nil || len(rep.JournalsRemoved) > 0 {
		t.Fatalf("clean of %s only: journals removed %v, err %v; want them kept for %s", buildRegion, rep.JournalsRemoved, err, copyRegion)
	}

	rep, err = Clean(ctx, CleanOptions{Access: access, JournalOnly: true, JournalDir: dir})
	if err != nil {
		t.Fatalf("clean: %v (report %+v)", err, rep)
	}
	var removed []string
	for _, r := range rep.Removed {
		removed = append(removed, r.ID)
	}
	if !slices.Contains(removed, untagged) || !slices.Contains(removed, tagged) || slices.Contains(removed, theirs) {
		t.Errorf("removed %v; want %s and %s, not %s", removed, untagged, tagged, theirs)
	}
	out, err := away.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, img := range out.Images {
		left = append(left, aws.ToString(img.ImageId))
	}
	if !slices.Equal(left, []string{theirs}) {
		t.Errorf("images left in %s: %v, want only %s", copyRegion, left, theirs)
	}
	// Nothing else of the builds: their snapshots went with them.
	for _, l := range leftovers(t, away) {
		if !baseline[l] {
			t.Errorf("left in %s: %s", copyRegion, l)
		}
	}
	if len(rep.JournalsRemoved) != 3 {
		t.Errorf("journals removed: %v, want all three", rep.JournalsRemoved)
	}
}

package kiln_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/builder/amazonebs"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/testmoto"
)

// tempKeyPair creates a key pair tagged as a temporary resource of build
// that expires at expires, created two hours ago.
func tempKeyPair(t *testing.T, c *ec2.Client, name, build string, expires time.Time) {
	t.Helper()
	now := time.Now().UTC()
	tags := []types.Tag{
		{Key: aws.String("kiln:build-id"), Value: aws.String(build)},
		{Key: aws.String("kiln:temporary"), Value: aws.String("true")},
		{Key: aws.String("kiln:created-at"), Value: aws.String(now.Add(-2 * time.Hour).Format(time.RFC3339))},
		{Key: aws.String("kiln:expires-at"), Value: aws.String(expires.UTC().Format(time.RFC3339))},
	}
	_, err := c.CreateKeyPair(context.Background(), &ec2.CreateKeyPairInput{
		KeyName:           aws.String(name),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeKeyPair, Tags: tags}},
	})
	if err != nil {
		t.Fatalf("create key pair %s: %v", name, err)
	}
}

func keyPairs(t *testing.T, c *ec2.Client) []string {
	t.Helper()
	out, err := c.DescribeKeyPairs(context.Background(), &ec2.DescribeKeyPairsInput{})
	if err != nil {
		t.Fatalf("describe key pairs: %v", err)
	}
	var names []string
	for _, k := range out.KeyPairs {
		names = append(names, aws.ToString(k.KeyName))
	}
	slices.Sort(names)
	return names
}

// TestCleanAWS runs kiln.Clean against moto_server: the expired temporary
// key pair goes, in the region AWS_REGION names; a fresh one and one kiln
// did not make stay; DryRun removes nothing; OlderThan removes the fresh
// one too.
func TestCleanAWS(t *testing.T) {
	moto, _ := useMoto(t, "us-east-1")
	c := ec2.NewFromConfig(moto.Config("us-east-1"))
	now := time.Now()
	tempKeyPair(t, c, "kiln-expired", "b-expired", now.Add(-time.Hour))
	tempKeyPair(t, c, "kiln-fresh", "b-fresh", now.Add(time.Hour))
	if _, err := c.CreateKeyPair(context.Background(), &ec2.CreateKeyPairInput{KeyName: aws.String("someone-elses")}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := kiln.CleanedResource{Builder: amazonebs.Type, Kind: "key-pair", ID: "kiln-expired", Location: "us-east-1", Build: "b-expired"}

	rec := &eventtest.Recorder{}
	rep, err := kiln.Clean(ctx, kiln.CleanOptions{DryRun: true, Events: rec})
	if err != nil || rep == nil {
		t.Fatalf("Clean DryRun: %v, %v", rep, err)
	}
	if !slices.Equal(rep.Removed, []kiln.CleanedResource{want}) || len(rep.Failed) != 0 {
		t.Errorf("Clean DryRun found %+v, failed %+v; want %+v", rep.Removed, rep.Failed, want)
	}
	if msgs := rec.Messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "would remove key-pair kiln-expired") {
		t.Errorf("Clean DryRun messages: %q", msgs)
	}
	if got := keyPairs(t, c); !slices.Contains(got, "kiln-expired") {
		t.Fatalf("DryRun removed the key pair: %v", got)
	}

	rep, err = kiln.Clean(ctx, kiln.CleanOptions{AWS: kiln.AWS{Regions: []string{"us-east-1"}}})
	if err != nil || !slices.Equal(rep.Removed, []kiln.CleanedResource{want}) {
		t.Fatalf("Clean: %+v, %v; want %+v removed", rep, err, want)
	}
	if got, want := keyPairs(t, c), []string{"kiln-fresh", "someone-elses"}; !slices.Equal(got, want) {
		t.Errorf("after Clean the key pairs are %v, want %v", got, want)
	}

	rep, err = kiln.Clean(ctx, kiln.CleanOptions{OlderThan: time.Hour})
	if err != nil || len(rep.Removed) != 1 || rep.Removed[0].ID != "kiln-fresh" {
		t.Fatalf("Clean OlderThan 1h: %+v, %v; want kiln-fresh removed", rep, err)
	}
	if got, want := keyPairs(t, c), []string{"someone-elses"}; !slices.Equal(got, want) {
		t.Errorf("after Clean OlderThan the key pairs are %v, want %v", got, want)
	}
}

// TestCleanAWSRegion: without Regions, Clean sweeps the region of the
// profile it is given; with no region anywhere it sweeps only what journals
// name (a machine that builds only local images), and says so.
func TestCleanAWSRegion(t *testing.T) {
	moto, _ := useMoto(t, "")
	ctx := context.Background()
	rec := &eventtest.Recorder{}
	rep, err := kiln.Clean(ctx, kiln.CleanOptions{Events: rec})
	if rep == nil || err != nil || len(rep.Removed) != 0 {
		t.Errorf("Clean without a region: %+v, %v; want an empty report and no error", rep, err)
	}
	if said := rec.Messages(); !slices.ContainsFunc(said, func(s string) bool { return strings.Contains(s, "no AWS region") }) {
		t.Errorf("Clean without a region said %q; want a message that no AWS region was swept by tag", said)
	}

	config := filepath.Join(t.TempDir(), "config")
	// A profile named explicitly brings its own credentials.
	profile := "[profile west]\nregion = us-west-2\naws_access_key_id = " + testmoto.AccessKey + "\naws_secret_access_key = " + testmoto.SecretKey + "\n"
	if err := os.WriteFile(config, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", config)
	west := ec2.NewFromConfig(moto.Config("us-west-2"))
	tempKeyPair(t, west, "kiln-west", "b-west", time.Now().Add(-time.Hour))
	rep, err = kiln.Clean(ctx, kiln.CleanOptions{AWS: kiln.AWS{Profile: "west"}})
	if err != nil || len(rep.Removed) != 1 || rep.Removed[0].Location != "us-west-2" {
		t.Fatalf("Clean with profile west: %+v, %v; want kiln-west removed in us-west-2", rep, err)
	}
	if got := keyPairs(t, west); len(got) != 0 {
		t.Errorf("key pairs left in us-west-2: %v", got)
	}
	if _, err := kiln.Clean(ctx, kiln.CleanOptions{AWS: kiln.AWS{Profile: "missing"}}); err == nil {
		t.Errorf("Clean with a profile that does not exist succeeded")
	}
}

// TestCleanAWSJournal: JournalOnly removes what the journal of a dead build
// records, in the region it names, though it has not expired, and removes
// the journal; it sweeps nothing by tag. The resources of a live build are
// left alone, also when expired, and the build is reported.
func TestCleanAWSJournal(t *testing.T) {
	moto, cache := useMoto(t, "us-east-1")
	west := ec2.NewFromConfig(moto.Config("us-west-2"))
	east := ec2.NewFromConfig(moto.Config("us-east-1"))
	past := time.Now().Add(-time.Hour)
	tempKeyPair(t, west, "kiln-dead", "b-dead", time.Now().Add(time.Hour))
	tempKeyPair(t, east, "kiln-live", "b-live", past)
	tempKeyPair(t, east, "kiln-expired", "b-expired", past)

	dir := filepath.Join(cache, "kiln", "journal")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	journal := func(build string, pid int, region, id string) string {
		path := filepath.Join(dir, build+".jsonl")
		content := `{"build":"` + build + `","pid":` + strconv.Itoa(pid) + `,"host":"` + host + `","start":"2026-01-01T00:00:00Z"}` + "\n" +
			`{"time":"2026-01-01T00:00:01Z","op":"created","region":"` + region + `","kind":"key-pair","id":"` + id + `"}` + "\n"
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	dead := journal("b-dead", 2147483646, "us-west-2", "kiln-dead") // above any pid_max: no such process
	journal("b-live", os.Getpid(), "us-east-1", "kiln-live")
	ctx := context.Background()

	rep, err := kiln.Clean(ctx, kiln.CleanOptions{JournalOnly: true})
	if err != nil {
		t.Fatalf("Clean JournalOnly: %v", err)
	}
	want := []kiln.CleanedResource{{Builder: amazonebs.Type, Kind: "key-pair", ID: "kiln-dead", Location: "us-west-2", Build: "b-dead"}}
	if !slices.Equal(rep.Removed, want) {
		t.Errorf("Clean JournalOnly removed %+v, want %+v", rep.Removed, want)
	}
	if !slices.Equal(rep.JournalsRemoved, []string{dead}) {
		t.Errorf("journals removed %v, want %s", rep.JournalsRemoved, dead)
	}
	if got := keyPairs(t, west); len(got) != 0 {
		t.Errorf("key pairs left in us-west-2: %v", got)
	}
	if got, want := keyPairs(t, east), []string{"kiln-expired", "kiln-live"}; !slices.Equal(got, want) {
		t.Errorf("JournalOnly swept us-east-1 by tag: key pairs %v, want %v", got, want)
	}

	rep, err = kiln.Clean(ctx, kiln.CleanOptions{})
	if err != nil || len(rep.Removed) != 1 || rep.Removed[0].ID != "kiln-expired" {
		t.Fatalf("Clean: %+v, %v; want only kiln-expired removed", rep, err)
	}
	if !slices.Equal(rep.LiveBuilds, []string{"b-live"}) {
		t.Errorf("live builds %v, want b-live", rep.LiveBuilds)
	}
	if got, want := keyPairs(t, east), []string{"kiln-live"}; !slices.Equal(got, want) {
		t.Errorf("key pairs in us-east-1 %v, want %v", got, want)
	}
}

// TestCleanQEMU: Clean also sweeps what a killed qemu build left on this
// machine, from its journal: the temporary directory is removed (or only
// listed with DryRun), and the AWS sweep's lack of a region does not make
// the local clean fail.
func TestCleanQEMU(t *testing.T) {
	_, cache := useMoto(t, "")
	tmp := t.TempDir()
	leftover := filepath.Join(tmp, "kiln-qemu-0123456789abcdef")
	if err := os.MkdirAll(filepath.Join(leftover, "seed"), 0o700); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "kiln", "journal", "qemu")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	// pid 2147483646 is above any pid_max: the build's kiln process is gone.
	doc := `{"build":"b-qemu","host":"` + host + `","owner":{"pid":2147483646,"start":1,"boot":"x"},` +
		`"created":"2026-01-01T00:00:00Z","resources":[{"kind":"temporary directory","path":"` + leftover + `"}]}`
	journal := filepath.Join(dir, "b-qemu.json")
	if err := os.WriteFile(journal, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rep, err := kiln.Clean(ctx, kiln.CleanOptions{DryRun: true})
	if err != nil || rep == nil || len(rep.Removed) != 1 || rep.Removed[0].Builder != "qemu" || rep.Removed[0].ID != leftover {
		t.Fatalf("Clean DryRun: %+v, %v; want the qemu temporary directory listed", rep, err)
	}
	if _, err := os.Stat(leftover); err != nil {
		t.Fatalf("DryRun removed the directory: %v", err)
	}
	rep, err = kiln.Clean(ctx, kiln.CleanOptions{})
	if err != nil || rep == nil || len(rep.Removed) != 1 || rep.Removed[0].Kind != "temporary directory" {
		t.Fatalf("Clean: %+v, %v; want the qemu temporary directory removed", rep, err)
	}
	for _, p := range []string{leftover, journal} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there after Clean (%v)", p, err)
		}
	}
}

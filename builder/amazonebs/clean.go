package amazonebs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/awsutil"
)

// CleanOptions says what Clean sweeps.
type CleanOptions struct {
	// Access says how to reach AWS; its Region is swept when Regions is
	// empty.
	Access AccessConfig
	// Regions to sweep for tagged temporary resources. The regions named in
	// the journals of dead builds are always swept as well.
	Regions []string
	// OlderThan, when set, removes temporary resources created longer ago
	// than this, whatever their expiry. When zero, only resources whose
	// kiln:expires-at has passed, or whose build's process is dead, are
	// removed.
	OlderThan time.Duration
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
	// JournalOnly removes only what the local journals of dead builds
	// record (by ID and by build tag), without sweeping regions by tag.
	JournalOnly bool
	// JournalDir is where journals live; "" means awsutil.DefaultJournalDir.
	JournalDir string
	// Events receives a message per resource; nil discards them.
	Events event.Sink

	clients ClientFunc // tests substitute it
}

// CleanedResource is one resource Clean found.
type CleanedResource struct {
	Region, Kind, ID string
	// Build is the kiln:build-id of the resource, when known.
	Build string
	// Err is set when removing it failed.
	Err error
}

func (r CleanedResource) String() string {
	return fmt.Sprintf("%s %s in %s (build %s)", r.Kind, r.ID, r.Region, r.Build)
}

// CleanReport lists what Clean removed (or would remove, with DryRun), what
// it could not remove, and the builds it left alone because their process
// still runs.
type CleanReport struct {
	Removed    []CleanedResource
	Failed     []CleanedResource
	LiveBuilds []string
	// JournalsRemoved lists the journal files of builds now fully cleaned.
	JournalsRemoved []string
}

// Clean removes the temporary resources that builds killed before their own
// cleanup left behind: instances first, then volumes, key pairs, security
// groups, and images with their snapshots. It finds them by their kiln tags
// and from the local journals (launch templates of spot builds go right
// after the instances): by the IDs they recorded, and, for a create call
// whose answer the build never got, by the name or client token its intent
// recorded (an image by its name in that region). A journal is removed once
// everything it accounts for is gone and a second look-up of its open
// intents finds nothing. Resources of builds whose process still runs (on
// this host) are never touched.
func Clean(ctx context.Context, opts CleanOptions) (*CleanReport, error) {
	if opts.Events == nil {
		opts.Events = event.Discard
	}
	if opts.clients == nil {
		opts.clients = NewClients(&opts.Access)
	}
	dir := opts.JournalDir
	if dir == "" {
		var err error
		if dir, err = awsutil.DefaultJournalDir(); err != nil {
			return nil, err
		}
	}
	journals, jerr := awsutil.ReadJournals(dir)
	if jerr != nil {
		opts.Events.Emit(&event.Message{Level: event.Warn, Text: fmt.Sprintf("clean: %v", jerr)})
	}
	rep := &CleanReport{}
	dead := map[string]*awsutil.JournalFile{}
	live := map[string]bool{}
	var regions []string
	addRegion := func(r string) {
		if r != "" && !slices.Contains(regions, r) {
			regions = append(regions, r)
		}
	}
	for _, r := range opts.Regions {
		addRegion(r)
	}
	if len(regions) == 0 && !opts.JournalOnly {
		addRegion(opts.Access.Region)
	}
	for _, j := range journals {
		if j.Alive() {
			live[j.Build] = true
			rep.LiveBuilds = append(rep.LiveBuilds, j.Build)
			continue
		}
		dead[j.Build] = j
		for _, r := range j.Regions {
			if len(opts.Regions) == 0 || slices.Contains(opts.Regions, r) {
				addRegion(r)
			}
		}
	}
	if len(regions) == 0 && len(dead) == 0 {
		if opts.JournalOnly {
			return rep, nil
		}
		return nil, errors.New("clean: no region to sweep: give regions or set region")
	}
	now := time.Now()
	selected := func(tags []types.Tag) bool {
		build := awsutil.TagValue(tags, awsutil.TagBuildID)
		if live[build] {
			return false
		}
		if _, ok := dead[build]; ok {
			return true
		}
		if opts.JournalOnly {
			return false
		}
		if opts.OlderThan > 0 {
			created, err := time.Parse(time.RFC3339, awsutil.TagValue(tags, awsutil.TagCreatedAt))
			return err == nil && now.Sub(created) > opts.OlderThan
		}
		expires, err := time.Parse(time.RFC3339, awsutil.TagValue(tags, awsutil.TagExpiresAt))
		return err == nil && now.After(expires)
	}
	r := remover{waiter: func(d time.Duration) awsutil.Waiter { return awsutil.Waiter{Timeout: d} }, waits: defaultWaits}
	var errs []error
	for _, region := range regions {
		c, err := opts.clients(ctx, region)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		found, err := findTemporary(ctx, c, region, selected, dead)
		if err != nil {
			errs = append(errs, regionalError(region, "find temporary resources", err))
			continue
		}
		for _, res := range found {
			if !opts.DryRun {
				res.Err = removeOne(ctx, r, c, res)
			}
			verb := "removed"
			switch {
			case opts.DryRun:
				verb = "would remove"
			case res.Err != nil:
				verb = "could not remove"
			}
			msg := &event.Message{Level: event.Info, Text: fmt.Sprintf("clean: %s %s", verb, res)}
			if res.Err != nil {
				msg.Level, msg.Text = event.Error, msg.Text+": "+res.Err.Error()
				rep.Failed = append(rep.Failed, res)
			} else {
				rep.Removed = append(rep.Removed, res)
			}
			opts.Events.Emit(msg)
		}
		if !opts.DryRun {
			if err := settled(ctx, c, region, dead); err != nil {
				errs = append(errs, regionalError(region, "clean", err))
			}
		}
	}
	if !opts.DryRun && len(errs) == 0 && len(rep.Failed) == 0 {
		for _, j := range dead {
			if slices.ContainsFunc(j.Regions, func(r string) bool { return !slices.Contains(regions, r) }) {
				continue // a region it touched was not swept
			}
			if err := os.Remove(j.Path); err == nil {
				rep.JournalsRemoved = append(rep.JournalsRemoved, j.Path)
			}
		}
	}
	if len(rep.Failed) > 0 {
		errs = append(errs, fmt.Errorf("clean: %d resources could not be removed", len(rep.Failed)))
	}
	return rep, errors.Join(errs...)
}

// settled looks up again what the unanswered create calls of the dead
// builds may have made in region: a journal goes only once that proves
// nothing of them remains.
func settled(ctx context.Context, c EC2, region string, dead map[string]*awsutil.JournalFile) error {
	var errs []error
	for build, j := range dead {
		for _, e := range j.Intents {
			if e.Region != region {
				continue
			}
			res, err := intended(ctx, c, build, e)
			if err == nil && len(res) > 0 {
				err = fmt.Errorf("%s still there", res[0])
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %q of build %s: %w", e.Kind, e.Token, build, err))
			}
		}
	}
	return errors.Join(errs...)
}

// removal order: what uses a resource goes before it.
var cleanOrder = []string{kindInstance, kindLaunchTemplate, kindVolume, kindKeyPair, kindSecurityGroup, kindImage, kindSnapshot}

func removeOne(ctx context.Context, r remover, c EC2, res CleanedResource) error {
	switch res.Kind {
	case kindInstance:
		return r.instance(ctx, c, res.ID, "")
	case kindLaunchTemplate:
		return r.launchTemplate(ctx, c, res.ID)
	case kindVolume:
		return r.volume(ctx, c, res.ID)
	case kindKeyPair:
		return r.keyPair(ctx, c, res.ID)
	case kindSecurityGroup:
		return r.securityGroup(ctx, c, res.ID)
	case kindImage:
		return r.image(ctx, c, res.ID)
	case kindSnapshot:
		return r.snapshot(ctx, c, res.ID)
	}
	return fmt.Errorf("unknown resource kind %q", res.Kind)
}

// findTemporary lists the temporary resources in region that selected
// accepts, plus what the dead builds' journals record there, in removal
// order.
func findTemporary(ctx context.Context, c EC2, region string, selected func([]types.Tag) bool, dead map[string]*awsutil.JournalFile) ([]CleanedResource, error) {
	tagged := []types.Filter{{Name: aws.String("tag:" + awsutil.TagTemporary), Values: []string{"true"}}}
	byKind := map[string][]CleanedResource{}
	seen := map[string]bool{}
	add := func(kind, id string, tags []types.Tag) {
		if id == "" || seen[kind+"/"+id] {
			return
		}
		seen[kind+"/"+id] = true
		byKind[kind] = append(byKind[kind], CleanedResource{Region: region, Kind: kind, ID: id, Build: awsutil.TagValue(tags, awsutil.TagBuildID)})
	}
	instances, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: append(slices.Clone(tagged),
		types.Filter{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped", "shutting-down"}})})
	if err != nil {
		return nil, fmt.Errorf("describe instances: %w", err)
	}
	for _, rs := range instances.Reservations {
		for _, in := range rs.Instances {
			if selected(in.Tags) {
				add(kindInstance, aws.ToString(in.InstanceId), in.Tags)
			}
		}
	}
	templates, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{Filters: tagged})
	if err != nil {
		return nil, fmt.Errorf("describe launch templates: %w", err)
	}
	for _, lt := range templates.LaunchTemplates {
		if selected(lt.Tags) {
			add(kindLaunchTemplate, aws.ToString(lt.LaunchTemplateId), lt.Tags)
		}
	}
	volumes, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: tagged})
	if err != nil {
		return nil, fmt.Errorf("describe volumes: %w", err)
	}
	for _, v := range volumes.Volumes {
		if selected(v.Tags) {
			add(kindVolume, aws.ToString(v.VolumeId), v.Tags)
		}
	}
	keys, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: tagged})
	if err != nil {
		return nil, fmt.Errorf("describe key pairs: %w", err)
	}
	for _, k := range keys.KeyPairs {
		if selected(k.Tags) {
			add(kindKeyPair, aws.ToString(k.KeyName), k.Tags)
		}
	}
	groups, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: tagged})
	if err != nil {
		return nil, fmt.Errorf("describe security groups: %w", err)
	}
	for _, g := range groups.SecurityGroups {
		if selected(g.Tags) {
			add(kindSecurityGroup, aws.ToString(g.GroupId), g.Tags)
		}
	}
	images, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: tagged})
	if err != nil {
		return nil, fmt.Errorf("describe images: %w", err)
	}
	for _, img := range images.Images {
		if selected(img.Tags) {
			add(kindImage, aws.ToString(img.ImageId), img.Tags)
		}
	}
	snaps, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: tagged})
	if err != nil {
		return nil, fmt.Errorf("describe snapshots: %w", err)
	}
	for _, sn := range snaps.Snapshots {
		if selected(sn.Tags) {
			add(kindSnapshot, aws.ToString(sn.SnapshotId), sn.Tags)
		}
	}
	// What the journals of dead builds recorded, tagged or not, and what
	// the create calls they never heard back from made.
	for build, j := range dead {
		buildTag := []types.Tag{{Key: aws.String(awsutil.TagBuildID), Value: aws.String(build)}}
		for _, e := range j.Pending {
			if e.Region == region {
				add(e.Kind, e.ID, buildTag)
			}
		}
		for _, e := range j.Intents {
			if e.Region != region {
				continue
			}
			res, err := intended(ctx, c, build, e)
			if err != nil {
				return nil, err
			}
			for _, r := range res {
				add(r.Kind, r.ID, buildTag)
			}
		}
	}
	var out []CleanedResource
	for _, k := range cleanOrder {
		out = append(out, byKind[k]...)
	}
	return out, nil
}

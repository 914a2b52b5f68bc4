package amazonebs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/step"
)

// Resource kinds, as written in the journal.
const (
	kindInstance       = "instance"
	kindKeyPair        = "key-pair"
	kindSecurityGroup  = "security-group"
	kindImage          = "image"
	kindSnapshot       = "snapshot"
	kindVolume         = "volume"
	kindLaunchTemplate = "launch-template"
)

// created journals a resource that now exists, made by the create call
// whose intent carried token, and registers its undo. The undo is
// registered even when the journal write fails, so the resource is still
// removed; the error then fails the step.
func (s *state) created(u *step.Undo, region, kind, token, id string, onFailure bool, remove func(ctx context.Context, c EC2) error) error {
	jerr := s.journal.Created(region, kind, token, id)
	what := undoWhat(region, kind, id)
	fn := func(ctx context.Context) error {
		c, err := s.clients(ctx, region)
		if err != nil {
			return err
		}
		if err := remove(ctx, c); err != nil {
			return err
		}
		return s.journal.Done(region, kind, id)
	}
	if onFailure {
		u.PushOnFailure(what, fn)
	} else {
		u.Push(what, fn)
	}
	if jerr != nil {
		return fmt.Errorf("record %s: %w", what, jerr)
	}
	return nil
}

// undoWhat names a resource in undo events: "instance i-0abc in us-east-1".
func undoWhat(region, kind, id string) string {
	return fmt.Sprintf("%s %s in %s", kind, id, region)
}

// createTimeout bounds a call that creates a resource (see create).
const createTimeout = 2 * time.Minute

// create makes call, which creates a resource of kind in region, with in.
// It first journals the intent, with the token (client token or name) by
// which kiln clean finds the resource should the process die before the
// answer; the caller settles it with created once it has the ID, and
// create settles it when EC2 refuses the call. A cancelled ctx stops the
// call from being sent but not once it is sent: EC2 may already have made
// the resource, and only the answer names it for undo. An interrupt must
// not throw that answer away, so the call runs under its own deadline,
// createTimeout. A call that gets no answer leaves its intent open.
func create[In, Out any](ctx context.Context, j *awsutil.Journal, region, kind, token string, call func(context.Context, In, ...func(*ec2.Options)) (Out, error), in In) (Out, error) {
	var zero Out
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if err := j.Intent(region, kind, token); err != nil {
		return zero, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	defer cancel()
	out, err := call(cctx, in)
	if err != nil && apiCode(err) != "" {
		// EC2 answered: nothing was made.
		if jerr := j.Refused(region, kind, token); jerr != nil {
			return zero, errors.Join(err, jerr)
		}
	}
	return out, err
}

// apiCode returns the error code of an AWS API error, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// notFound reports errors that mean the resource is already gone.
func notFound(err error) bool {
	c := apiCode(err)
	return strings.HasSuffix(c, ".NotFound") || c == "InvalidAMIID.Unavailable"
}

// remover removes resources; the builder's undo and Clean share it.
type remover struct {
	waiter func(time.Duration) awsutil.Waiter
	waits  waitTimes
}

// maxTerminations bounds the TerminateInstances calls remover.instance
// makes for one instance.
const maxTerminations = 5

// instance terminates an instance, waits until it is gone, and deletes the
// volumes of build that it left (delete_on_termination = false). An
// instance seen in a state that a termination does not lead through
// (stopped, stopping, running, pending: a stop or start that reached EC2
// after the termination, or a stale answer) is asked to terminate again, up
// to maxTerminations requests in all; then the wait fails rather than
// waiting for a state that will not come.
func (r remover) instance(ctx context.Context, c EC2, id, build string) error {
	terminate := func(ctx context.Context) error {
		_, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
		if err != nil && !notFound(err) {
			return fmt.Errorf("terminate instance %s: %w", id, err)
		}
		return nil
	}
	if err := terminate(ctx); err != nil {
		return err
	}
	requests := 1
	err := r.waiter(r.waits.removal).Wait(ctx, "instance "+id, "terminated", func(ctx context.Context) (string, bool, error) {
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if notFound(err) {
			return "gone", true, nil
		}
		if err != nil {
			return "", false, err
		}
		in := firstInstance(out)
		if in == nil {
			return "gone", true, nil
		}
		var st types.InstanceStateName
		if in.State != nil {
			st = in.State.Name
		}
		switch st {
		case types.InstanceStateNameTerminated:
			return string(st), true, nil
		case types.InstanceStateNameShuttingDown:
			return string(st), false, nil
		default:
			if requests >= maxTerminations {
				return "", false, fmt.Errorf("instance %s is still %s after %d termination requests", id, st, requests)
			}
			requests++
			if err := terminate(ctx); err != nil {
				return "", false, err
			}
			return string(st) + " (terminating again)", false, nil
		}
	})
	if err != nil {
		return err
	}
	if build == "" {
		return nil
	}
	return r.volumes(ctx, c, build)
}

// volumes deletes the unattached volumes tagged with build.
func (r remover) volumes(ctx context.Context, c EC2, build string) error {
	out, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + awsutil.TagBuildID), Values: []string{build}},
		{Name: aws.String("status"), Values: []string{"available"}},
	}})
	if err != nil {
		return fmt.Errorf("list volumes of build %s: %w", build, err)
	}
	var errs []error
	for _, v := range out.Volumes {
		if err := r.volume(ctx, c, aws.ToString(v.VolumeId)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r remover) volume(ctx context.Context, c EC2, id string) error {
	_, err := c.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(id)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete volume %s: %w", id, err)
	}
	return nil
}

func (r remover) keyPair(ctx context.Context, c EC2, name string) error {
	_, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(name)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete key pair %s: %w", name, err)
	}
	return nil
}

// securityGroup deletes a security group, retrying while a terminating
// instance still holds it.
func (r remover) securityGroup(ctx context.Context, c EC2, id string) error {
	return r.waiter(r.waits.removal).Wait(ctx, "security group "+id, "deleted", func(ctx context.Context) (string, bool, error) {
		_, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)})
		switch {
		case err == nil || notFound(err):
			return "deleted", true, nil
		case apiCode(err) == "DependencyViolation":
			return "in use", false, nil
		}
		return "", false, fmt.Errorf("delete security group %s: %w", id, err)
	})
}

// image deregisters an AMI (pending or not) and deletes its snapshots,
// found from its block device mappings and, for a pending image whose
// mappings are not filled in yet, from the snapshot descriptions AWS writes
// ("Created by CreateImage(...) for ami-...", "Copied for DestinationAmi ami-...").
func (r remover) image(ctx context.Context, c EC2, id string) error {
	snaps := map[string]bool{}
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil && !notFound(err) {
		return fmt.Errorf("describe image %s: %w", id, err)
	}
	if out != nil {
		for _, img := range out.Images {
			for _, s := range imageSnapshots(img) {
				snaps[s] = true
			}
		}
	}
	if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil && !notFound(err) {
		return fmt.Errorf("deregister image %s: %w", id, err)
	}
	found, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{
		OwnerIds: []string{"self"},
		Filters:  []types.Filter{{Name: aws.String("description"), Values: []string{"*" + id + "*"}}},
	})
	if err != nil {
		return fmt.Errorf("find snapshots of image %s: %w", id, err)
	}
	for _, sn := range found.Snapshots {
		if mentions(aws.ToString(sn.Description), id) {
			snaps[aws.ToString(sn.SnapshotId)] = true
		}
	}
	var errs []error
	for sn := range snaps {
		if err := r.snapshot(ctx, c, sn); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// mentions reports whether text names id as a whole word (so that
// ami-12345678 does not match ami-12345678abcdef).
func mentions(text, id string) bool {
	for i := strings.Index(text, id); i >= 0; {
		end := i + len(id)
		if end == len(text) || !isIDChar(text[end]) {
			return true
		}
		j := strings.Index(text[end:], id)
		if j < 0 {
			return false
		}
		i = end + j
	}
	return false
}

func isIDChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-'
}

// snapshot deletes a snapshot, waiting while it is still being made.
func (r remover) snapshot(ctx context.Context, c EC2, id string) error {
	return r.waiter(r.waits.snapshot).Wait(ctx, "snapshot "+id, "deleted", func(ctx context.Context) (string, bool, error) {
		_, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
		switch {
		case err == nil || notFound(err):
			return "deleted", true, nil
		case apiCode(err) == "IncorrectState" || apiCode(err) == "InvalidSnapshot.InUse":
			return "in use", false, nil
		}
		return "", false, fmt.Errorf("delete snapshot %s: %w", id, err)
	})
}

func (r remover) launchTemplate(ctx context.Context, c EC2, id string) error {
	_, err := c.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(id)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete launch template %s: %w", id, err)
	}
	return nil
}

// imageSnapshots lists the EBS snapshots of an image.
func imageSnapshots(img types.Image) []string {
	var out []string
	for _, bd := range img.BlockDeviceMappings {
		if bd.Ebs != nil && bd.Ebs.SnapshotId != nil {
			out = append(out, *bd.Ebs.SnapshotId)
		}
	}
	return out
}

func (s *state) remover() remover {
	return remover{waiter: s.waiter, waits: s.waits}
}

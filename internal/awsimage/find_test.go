package awsimage

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// fakeImages answers DescribeImages with images and records the request.
type fakeImages struct {
	images []types.Image
	err    error
	in     *ec2.DescribeImagesInput
}

func (f *fakeImages) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	f.in = in
	return &ec2.DescribeImagesOutput{Images: f.images}, f.err
}

func image(id, created string) types.Image {
	return types.Image{ImageId: aws.String(id), CreationDate: aws.String(created)}
}

func TestFind(t *testing.T) {
	ctx := context.Background()
	f := &Filter{Filters: map[string]string{"name": "debian-12-*", "architecture": "x86_64"}, Owners: []string{"136693071363"}, IncludeDeprecated: true}
	c := &fakeImages{images: []types.Image{image("ami-old", "2024-01-01T00:00:00.000Z"), image("ami-new", "2025-06-01T00:00:00.000Z")}}

	_, err := Find(ctx, c, "", f)
	if err == nil || !strings.Contains(err.Error(), "2 images match filters {architecture=x86_64, name=debian-12-*} owners [136693071363]") {
		t.Errorf("several without most_recent: %v", err)
	}
	if got := c.in; len(got.Filters) != 2 || aws.ToString(got.Filters[0].Name) != "architecture" || !aws.ToBool(got.IncludeDeprecated) || got.Owners[0] != "136693071363" {
		t.Errorf("request %+v", got)
	}

	f.MostRecent = true
	img, err := Find(ctx, c, "", f)
	if err != nil || aws.ToString(img.ImageId) != "ami-new" {
		t.Errorf("most_recent picked %v, %v", aws.ToString(img.ImageId), err)
	}
	if aws.ToString(c.images[0].ImageId) != "ami-old" {
		t.Error("Find reordered the caller's slice")
	}

	c.images = nil
	if _, err := Find(ctx, c, "ami-1", nil); err == nil || err.Error() != "no image matches id ami-1" {
		t.Errorf("no match: %v", err)
	}
	c.err = errors.New("throttled")
	if _, err := Find(ctx, c, "ami-1", nil); err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Errorf("API error: %v", err)
	}
}

package awsutil

import (
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Tags that mark a temporary resource. Every resource a kiln build creates
// and means to remove carries all four from the moment it exists, so that
// `kiln clean` can find it after the process was killed.
const (
	TagBuildID   = "kiln:build-id"
	TagTemporary = "kiln:temporary"
	TagCreatedAt = "kiln:created-at"
	TagExpiresAt = "kiln:expires-at"
)

// TempTags returns the tags for a temporary resource of build buildID created
// at now that nobody should need after ttl.
func TempTags(buildID string, now time.Time, ttl time.Duration) []types.Tag {
	return []types.Tag{
		{Key: aws.String(TagBuildID), Value: aws.String(buildID)},
		{Key: aws.String(TagTemporary), Value: aws.String("true")},
		{Key: aws.String(TagCreatedAt), Value: aws.String(now.UTC().Format(time.RFC3339))},
		{Key: aws.String(TagExpiresAt), Value: aws.String(now.Add(ttl).UTC().Format(time.RFC3339))},
	}
}

// Tags converts a map to EC2 tags, sorted by key so requests are stable.
func Tags(m map[string]string) []types.Tag {
	out := make([]types.Tag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

// TagSpec returns a TagSpecification for rt holding every tag of the lists.
func TagSpec(rt types.ResourceType, lists ...[]types.Tag) types.TagSpecification {
	var all []types.Tag
	for _, l := range lists {
		all = append(all, l...)
	}
	return types.TagSpecification{ResourceType: rt, Tags: all}
}

// TagValue returns the value of the tag key in tags, or "".
func TagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

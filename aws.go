package kiln

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/kilnhq/kiln/internal/awsutil"
)

// AWS says where and as whom Clean and OpenCatalog talk to AWS.
// Credentials and endpoints come from the AWS SDK's usual sources: the
// environment (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...), the shared
// config and credentials files, SSO, container and instance roles.
type AWS struct {
	// Regions to work in. When empty, the region the AWS configuration
	// names is used: AWS_REGION, AWS_DEFAULT_REGION or the profile's.
	Regions []string
	// Profile is the shared config profile; "" means the default one.
	Profile string
}

// access returns the access configuration of a, in its first region (""
// when Regions is empty: AccessConfig.Load then takes the configured one).
func (a AWS) access() awsutil.AccessConfig {
	acc := awsutil.AccessConfig{Profile: a.Profile}
	if len(a.Regions) > 0 {
		acc.Region = a.Regions[0]
	}
	return acc
}

// defaultRegion returns the region the AWS configuration of profile names,
// or "" when it names none.
func defaultRegion(ctx context.Context, profile string) (string, error) {
	var opts []func(*config.LoadOptions) error
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return "", fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg.Region, nil
}

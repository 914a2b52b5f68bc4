package awsutil

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/hashicorp/hcl/v2"
)

// AccessConfig holds the options that say where and as whom kiln talks to AWS,
// spelled as Packer spells them. Components embed it with `hcl:",squash"`.
// Without access_key, profile or assume_role the SDK's standard chain applies
// (environment, shared files, SSO, container and instance roles).
type AccessConfig struct {
	Region            string      `hcl:"region,optional"`
	Profile           string      `hcl:"profile,optional"`
	AccessKey         string      `hcl:"access_key,optional"`
	SecretKey         string      `hcl:"secret_key,optional"`
	Token             string      `hcl:"token,optional"`
	AssumeRole        *AssumeRole `hcl:"assume_role,block"`
	CustomEndpointEC2 string      `hcl:"custom_endpoint_ec2,optional"`
	// MaxRetries is the number of retries after a failed call (throttling,
	// server errors); 0 means DefaultMaxRetries.
	MaxRetries int      `hcl:"max_retries,optional"`
	Polling    *Polling `hcl:"aws_polling,block"`
}

// AssumeRole is the assume_role block.
type AssumeRole struct {
	RoleARN         string `hcl:"role_arn"`
	SessionName     string `hcl:"session_name,optional"`
	ExternalID      string `hcl:"external_id,optional"`
	DurationSeconds int    `hcl:"duration_seconds,optional"`
}

// Polling is the aws_polling block: a fixed delay between polls and a number
// of polls, which together bound a wait. kiln caps the delay at MaxPollDelay
// unless it is set here.
type Polling struct {
	DelaySeconds int `hcl:"delay_seconds,optional"`
	MaxAttempts  int `hcl:"max_attempts,optional"`
}

// DefaultMaxRetries is the number of retries when max_retries is not set. It
// is high because throttling with many parallel builds is normal, and the
// adaptive retryer slows every build down rather than failing one.
const DefaultMaxRetries = 12

// Validate checks the options that need no I/O. body locates the problems.
func (c *AccessConfig) Validate(body hcl.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	bad := func(attr, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid AWS access option", Detail: detail, Subject: AttrRange(body, attr)})
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		bad("access_key", "access_key and secret_key must be given together.")
	}
	if c.Token != "" && c.AccessKey == "" {
		bad("token", "token needs access_key and secret_key.")
	}
	if c.MaxRetries < 0 {
		bad("max_retries", "max_retries must not be negative.")
	}
	if p := c.Polling; p != nil && (p.DelaySeconds < 0 || p.MaxAttempts < 0) {
		bad("aws_polling", "aws_polling delay_seconds and max_attempts must not be negative.")
	}
	if r := c.AssumeRole; r != nil && r.DurationSeconds != 0 && (r.DurationSeconds < 900 || r.DurationSeconds > 43200) {
		bad("assume_role", "assume_role duration_seconds must be between 900 and 43200.")
	}
	return diags
}

// Load returns the aws.Config for region (the configured region when region
// is ""). Every config loaded in a process for the same region and retry
// budget shares one adaptive retryer.
func (c *AccessConfig) Load(ctx context.Context, region string) (aws.Config, error) {
	if region == "" {
		region = c.Region
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return SharedRetryer(region, c.maxAttempts()) }),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, c.Token)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("load AWS configuration: no region: set region in the source block or AWS_REGION")
	}
	if r := c.AssumeRole; r != nil && r.RoleARN != "" {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), r.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			if r.SessionName != "" {
				o.RoleSessionName = r.SessionName
			}
			if r.ExternalID != "" {
				o.ExternalID = aws.String(r.ExternalID)
			}
			if r.DurationSeconds > 0 {
				o.Duration = time.Duration(r.DurationSeconds) * time.Second
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
	}
	return cfg, nil
}

func (c *AccessConfig) maxAttempts() int {
	if c.MaxRetries > 0 {
		return c.MaxRetries + 1
	}
	return DefaultMaxRetries + 1
}

// PollDelay returns the fixed delay aws_polling asks for, or 0 for kiln's
// growing delay capped at MaxPollDelay.
func (c *AccessConfig) PollDelay() time.Duration {
	if c.Polling == nil {
		return 0
	}
	return time.Duration(c.Polling.DelaySeconds) * time.Second
}

// WaitTimeout returns the overall deadline aws_polling implies (delay ×
// attempts), or def when aws_polling does not bound waits.
func (c *AccessConfig) WaitTimeout(def time.Duration) time.Duration {
	if c.Polling == nil || c.Polling.MaxAttempts == 0 {
		return def
	}
	d := c.PollDelay()
	if d == 0 {
		d = MaxPollDelay
	}
	return d * time.Duration(c.Polling.MaxAttempts)
}

// AttrRange returns the range of the attribute or block named name in body,
// or nil when body is nil or has no such item.
func AttrRange(body hcl.Body, name string) *hcl.Range {
	if body == nil {
		return nil
	}
	content, _, _ := body.PartialContent(&hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: name}},
	})
	if content != nil {
		if a, ok := content.Attributes[name]; ok {
			return a.Expr.Range().Ptr()
		}
	}
	content, _, _ = body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: name}}})
	if content != nil && len(content.Blocks) > 0 {
		return content.Blocks[0].DefRange.Ptr()
	}
	return nil
}

package awsutil

import (
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// MaxRetryBackoff caps the delay between two attempts of one call.
const MaxRetryBackoff = 20 * time.Second

var retryers struct {
	sync.Mutex
	m map[string]aws.Retryer
}

// SharedRetryer returns the process's adaptive retryer for region and
// maxAttempts, creating it on first use. Sharing it makes every build in the
// process that calls the same region back off together when AWS throttles:
// the adaptive mode's client-side rate limit learns from all of them.
//
// The standard retry quota (a token bucket that fails calls once too many
// retries happened) is disabled: with many builds it turns throttling into
// failures, which is what adaptive mode is there to prevent.
func SharedRetryer(region string, maxAttempts int) aws.Retryer {
	key := fmt.Sprintf("%s/%d", region, maxAttempts)
	retryers.Lock()
	defer retryers.Unlock()
	if r, ok := retryers.m[key]; ok {
		return r
	}
	if retryers.m == nil {
		retryers.m = map[string]aws.Retryer{}
	}
	r := retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = maxAttempts
			so.MaxBackoff = MaxRetryBackoff
			so.RateLimiter = ratelimit.None
		})
	})
	retryers.m[key] = r
	return r
}

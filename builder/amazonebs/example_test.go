package amazonebs_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnhq/kiln/builder/amazonebs"
)

// Clean removes what killed builds left behind: here everything temporary
// older than a day in two regions, after a dry run that lists it.
func ExampleClean() {
	ctx := context.Background()
	opts := amazonebs.CleanOptions{
		Access:    amazonebs.AccessConfig{Profile: "build"},
		Regions:   []string{"eu-west-1", "us-east-1"},
		OlderThan: 24 * time.Hour,
		DryRun:    true,
	}
	report, err := amazonebs.Clean(ctx, opts)
	if err != nil {
		fmt.Println("clean:", err)
		return
	}
	for _, r := range report.Removed {
		fmt.Println("would remove", r)
	}
	opts.DryRun = false
	if _, err := amazonebs.Clean(ctx, opts); err != nil {
		fmt.Println("clean:", err)
	}
}

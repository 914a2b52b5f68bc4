package kiln_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kilnhq/kiln/internal/testmoto"
)

// useMoto starts moto_server and points the AWS SDK's default chain of
// this process at it (endpoint, dummy credentials, no shared files, no
// instance metadata), with AWS_REGION set to region (none when ""), and
// kiln's journals in a temporary cache directory, which it returns.
func useMoto(t *testing.T, region string) (*testmoto.Server, string) {
	t.Helper()
	moto := testmoto.Start(t)
	dir := t.TempDir()
	moto.Setenv(t, dir)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", region)
	t.Setenv("AWS_DEFAULT_REGION", "")
	cache := filepath.Join(dir, "cache")
	t.Setenv("XDG_CACHE_HOME", cache)
	if err := os.MkdirAll(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	return moto, cache
}

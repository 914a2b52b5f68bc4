package integration

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/internal/testmoto"
)

// ec2Query sends one EC2 query API call to moto and returns the response
// body. The Authorization header only names the region: moto does not check
// signatures.
func ec2Query(t *testing.T, endpoint string, params url.Values) string {
	t.Helper()
	params.Set("Version", "2016-11-15")
	req, err := http.NewRequest("POST", endpoint+"/", strings.NewReader(params.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("EC2 %s: %v", params.Get("Action"), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("EC2 %s: %s\n%s", params.Get("Action"), resp.Status, body)
	}
	return string(body)
}

// createKeyPair creates a key pair with the given tags.
func createKeyPair(t *testing.T, endpoint, name string, tags map[string]string) {
	t.Helper()
	p := url.Values{"Action": {"CreateKeyPair"}, "KeyName": {name}}
	if len(tags) > 0 {
		p.Set("TagSpecification.1.ResourceType", "key-pair")
		i := 1
		for k, v := range tags {
			p.Set(fmt.Sprintf("TagSpecification.1.Tag.%d.Key", i), k)
			p.Set(fmt.Sprintf("TagSpecification.1.Tag.%d.Value", i), v)
			i++
		}
	}
	ec2Query(t, endpoint, p)
}

// TestClean runs kiln clean against moto_server: a temporary key pair whose
// expiry has passed is removed; one that has not expired and one kiln did
// not make are left; -dry-run removes nothing.
func TestClean(t *testing.T) {
	moto := testmoto.Start(t)
	now := time.Now().UTC()
	temp := func(build string, expires time.Time) map[string]string {
		return map[string]string{
			"kiln:build-id":   build,
			"kiln:temporary":  "true",
			"kiln:created-at": now.Add(-2 * time.Hour).Format(time.RFC3339),
			"kiln:expires-at": expires.Format(time.RFC3339),
		}
	}
	createKeyPair(t, moto.Endpoint, "kiln-expired", temp("b-expired", now.Add(-time.Hour)))
	createKeyPair(t, moto.Endpoint, "kiln-fresh", temp("b-fresh", now.Add(time.Hour)))
	createKeyPair(t, moto.Endpoint, "someone-elses", nil)
	keys := func() string {
		return ec2Query(t, moto.Endpoint, url.Values{"Action": {"DescribeKeyPairs"}})
	}

	cache := t.TempDir()
	env := append(kilnEnv(),
		"AWS_ENDPOINT_URL_EC2="+moto.Endpoint,
		"AWS_ACCESS_KEY_ID="+testmoto.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+testmoto.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(cache, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(cache, "no-credentials"),
		"XDG_CACHE_HOME="+cache,
	)
	clean := func(args ...string) result {
		return runKilnEnv(t, t.TempDir(), env, append([]string{"clean"}, args...)...)
	}

	r := clean("-region", "us-east-1", "-dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "would remove key-pair kiln-expired") || !strings.Contains(r.stdout, "Would remove 1 temporary resources") {
		t.Errorf("clean -dry-run:\n%s", r)
	}
	if !strings.Contains(keys(), "kiln-expired") {
		t.Fatalf("-dry-run removed the key pair")
	}

	r = clean("-region", "us-east-1")
	if r.code != 0 || !strings.Contains(r.stdout, "Removed 1 temporary resources") {
		t.Errorf("clean:\n%s", r)
	}
	k := keys()
	if strings.Contains(k, "kiln-expired") {
		t.Errorf("the expired temporary key pair is still there:\n%s", k)
	}
	for _, kept := range []string{"kiln-fresh", "someone-elses"} {
		if !strings.Contains(k, kept) {
			t.Errorf("clean removed %s, which it must leave", kept)
		}
	}

	r = clean("-region", "us-east-1", "-older-than", "1h")
	if r.code != 0 || strings.Contains(keys(), "kiln-fresh") {
		t.Errorf("clean -older-than 1h left the key pair created 2 h ago:\n%s", r)
	}
	if !strings.Contains(keys(), "someone-elses") {
		t.Errorf("clean -older-than removed a key pair kiln did not make")
	}

	// A machine that builds only local images has no AWS region: clean
	// still cleans (journals, local leftovers) and says what it skipped.
	if r := runKilnEnv(t, t.TempDir(), append(env, "AWS_REGION=", "AWS_DEFAULT_REGION="), "clean"); r.code != 0 || !strings.Contains(r.stdout, "no AWS region") {
		t.Errorf("clean without a region: exit %d, want 0 and a word about the region\n%s", r.code, r)
	}
	if r := clean("extra"); r.code != 2 {
		t.Errorf("clean with an argument: exit %d, want 2", r.code)
	}
}

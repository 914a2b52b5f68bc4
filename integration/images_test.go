package integration

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/internal/testmoto"
)

// xmlValue returns the first <tag>value</tag> in body.
func xmlValue(t *testing.T, body, tag string) string {
	t.Helper()
	m := regexp.MustCompile("<" + tag + ">([^<]*)</" + tag + ">").FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no <%s> in:\n%s", tag, body)
	}
	return m[1]
}

// registerFamilyImage registers an AMI with one snapshot and kiln's lineage
// tags in moto, and returns the AMI and snapshot IDs.
func registerFamilyImage(t *testing.T, endpoint, version string) (ami, snap string) {
	t.Helper()
	ami = xmlValue(t, ec2Query(t, endpoint, url.Values{
		"Action": {"RegisterImage"}, "Name": {"web-" + version}, "RootDeviceName": {"/dev/sda1"},
	}), "imageId")
	// moto gives a registered image a snapshot of its own.
	snap = xmlValue(t, ec2Query(t, endpoint, url.Values{"Action": {"DescribeImages"}, "ImageId.1": {ami}}), "snapshotId")
	tags := map[string]string{
		"kiln:family": "web", "kiln:version": version, "kiln:status": "tested",
		"kiln:inputs": "sha256:" + strings.Repeat(version[len(version)-1:], 64),
	}
	p := url.Values{"Action": {"CreateTags"}, "ResourceId.1": {ami}, "ResourceId.2": {snap}}
	i := 1
	for k, v := range tags {
		p.Set(fmt.Sprintf("Tag.%d.Key", i), k)
		p.Set(fmt.Sprintf("Tag.%d.Value", i), v)
		i++
	}
	ec2Query(t, endpoint, p)
	return ami, snap
}

// TestImagesAWS runs kiln images list, promote, rollback and prune against
// moto_server's EC2 and SSM.
func TestImagesAWS(t *testing.T) {
	moto := testmoto.Start(t)
	cache := t.TempDir()
	env := append(kilnEnv(),
		"AWS_ENDPOINT_URL="+moto.Endpoint,
		"AWS_ACCESS_KEY_ID="+testmoto.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+testmoto.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(cache, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(cache, "no-credentials"),
		"AWS_REGION=us-east-1",
	)
	amis, snaps := map[string]string{}, map[string]string{}
	for _, v := range []string{"1.0.0", "1.0.1", "1.0.2"} {
		amis[v], snaps[v] = registerFamilyImage(t, moto.Endpoint, v)
	}
	images := func(args ...string) result {
		return runKilnEnv(t, t.TempDir(), env, append([]string{"images"}, args...)...)
	}
	parameter := func() string {
		r := images("list", "web", "-json")
		var list []struct {
			Version  string   `json:"version"`
			Channels []string `json:"channels"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatalf("images list -json: %v\n%s", err, r)
		}
		for _, img := range list {
			for _, ch := range img.Channels {
				if ch == "stable" {
					return img.Version
				}
			}
		}
		return ""
	}

	r := images("list", "web")
	for _, want := range []string{"VERSION", "1.0.0", "1.0.1", "1.0.2", "tested", "us-east-1:" + amis["1.0.1"]} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("images list lacks %q:\n%s", want, r)
		}
	}
	if r := images("promote", "web", "1.0.1", "-channel", "stable"); r.code != 0 || !strings.Contains(r.stdout, "now points at 1.0.1") {
		t.Errorf("promote:\n%s", r)
	}
	if r := images("promote", "web", "1.0.2", "-channel", "stable"); r.code != 0 {
		t.Errorf("promote:\n%s", r)
	}
	if got := parameter(); got != "1.0.2" {
		t.Errorf("stable = %q after promoting 1.0.2", got)
	}
	if r := images("rollback", "web", "-channel", "stable"); r.code != 0 || !strings.Contains(r.stdout, "rolled back to 1.0.1") {
		t.Errorf("rollback:\n%s", r)
	}
	if got := parameter(); got != "1.0.1" {
		t.Errorf("stable = %q after the rollback", got)
	}
	if r := images("prune", "web", "-keep", "1", "-dry-run"); r.code != 0 || !strings.Contains(r.stdout, "would remove 1 of 3") {
		t.Errorf("prune -dry-run:\n%s", r)
	}
	if r := images("prune", "web", "-keep", "1"); r.code != 0 || !strings.Contains(r.stdout, "removed 1 of 3") {
		t.Errorf("prune:\n%s", r)
	}
	all := ec2Query(t, moto.Endpoint, url.Values{"Action": {"DescribeImages"}, "Owner.1": {"self"}})
	if strings.Contains(all, amis["1.0.0"]) || !strings.Contains(all, amis["1.0.1"]) || !strings.Contains(all, amis["1.0.2"]) {
		t.Errorf("after prune -keep 1 (stable on 1.0.1), want only 1.0.0 gone:\n%s", all)
	}
	snapsLeft := ec2Query(t, moto.Endpoint, url.Values{"Action": {"DescribeSnapshots"}, "Owner.1": {"self"}})
	if strings.Contains(snapsLeft, snaps["1.0.0"]) || !strings.Contains(snapsLeft, snaps["1.0.1"]) {
		t.Errorf("snapshots after prune: 1.0.0's %s must go, 1.0.1's %s stay", snaps["1.0.0"], snaps["1.0.1"])
	}
	if r := images("promote", "web", "9.9.9", "-channel", "stable"); r.code != 1 {
		t.Errorf("promote of a missing version: exit %d\n%s", r.code, r)
	}
	if r := images("rollback", "web"); r.code != 2 {
		t.Errorf("rollback without -channel: exit %d", r.code)
	}
}

// TestImagesLocal runs kiln images against a local output root.
func TestImagesLocal(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"1.0.0", "1.0.1", "1.0.2"} {
		dir := filepath.Join(root, "web-"+v)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, "web-"+v+".qcow2", "disk "+v)
		writeFile(t, dir, "kiln-image.json", fmt.Sprintf(`{"family": "web", "version": %q, "name": "web-%s",
  "files": ["web-%s.qcow2"], "tags": {"kiln:status": "built", "kiln:inputs": "sha256:%s"}}`, v, v, v, strings.Repeat("ab", 32)))
	}
	images := func(args ...string) result {
		return runKiln(t, root, append(append([]string{"images"}, args...), "-dir", root)...)
	}
	if r := images("list", "web"); r.code != 0 || !strings.Contains(r.stdout, "web-1.0.2.qcow2") || !strings.Contains(r.stdout, "abababababab") {
		t.Errorf("list:\n%s", r)
	}
	for _, v := range []string{"1.0.0", "1.0.2"} {
		if r := images("promote", "web", v, "-channel", "stable"); r.code != 0 {
			t.Fatalf("promote %s:\n%s", v, r)
		}
	}
	if r := images("rollback", "web", "-channel", "stable"); r.code != 0 || !strings.Contains(r.stdout, "rolled back to 1.0.0") {
		t.Errorf("rollback:\n%s", r)
	}
	idx := readFile(t, filepath.Join(root, "web.channels.json"))
	if strings.Count(idx, `"version"`) != 3 {
		t.Errorf("the index holds %d moves, want 3:\n%s", strings.Count(idx, `"version"`), idx)
	}
	if r := images("prune", "web", "-keep", "1"); r.code != 0 || !strings.Contains(r.stdout, "removed 1 of 3") {
		t.Errorf("prune:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(root, "web-1.0.1")); !os.IsNotExist(err) {
		t.Errorf("web-1.0.1 survived prune -keep 1: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "web-1.0.0", "web-1.0.0.qcow2")); err != nil {
		t.Errorf("web-1.0.0 (stable) was removed: %v", err)
	}
}

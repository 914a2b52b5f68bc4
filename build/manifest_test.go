package build

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/postprocessor/manifest"
)

// The manifest is a file CI keeps: a sensitive variable or a password the
// builder reported, used in custom_data, is written redacted.
func TestManifestRedactsSecrets(t *testing.T) {
	w := &world{}
	out := filepath.Join(t.TempDir(), "manifest.json")
	tpl := load(t, `
variable "token" {
  type      = string
  default   = "tok-123456"
  sensitive = true
}
source "fake" "a" {
  instance_id = "i-a"
  password    = "pw-secret-9"
}
build {
  sources = ["source.fake.a"]
  post-processor "manifest" {
    output      = "`+out+`"
    custom_data = { token = var.token, login = "admin:${build.Password}", team = "web" }
  }
}
`)
	reg := w.registries()
	reg.PostProcessors.Register("manifest", manifest.New)
	builds, diags := Plan(tpl, reg, nil, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := Run(context.Background(), tpl, builds, Options{}).Err(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"tok-123456", "pw-secret-9"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("manifest holds the secret %q:\n%s", secret, raw)
		}
	}
	var m manifest.Manifest
	if err := json.Unmarshal(raw, &m); err != nil || len(m.Builds) != 1 {
		t.Fatalf("manifest %s: %v", raw, err)
	}
	want := map[string]string{"token": "<sensitive>", "login": "admin:<sensitive>", "team": "web"}
	if got := m.Builds[0].CustomData; !maps.Equal(got, want) {
		t.Errorf("custom_data = %v, want %v", got, want)
	}
}

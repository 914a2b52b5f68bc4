package build

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/family"
	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/kilnhq/kiln/template"
)

// localFamilyBuilder makes "images" in a family.Local catalog without a
// VM: the fast local path of the family flow.
type localFamilyBuilder struct {
	w   *world
	cfg struct {
		Root string `hcl:"root"`
		Base string `hcl:"base,optional"`
		Name string `hcl:"name,optional"`
		// Race makes another "runner" take the image's name just before
		// this build makes its image, with the same inputs or not.
		Race string `hcl:"race,optional"`
	}
	names family.Names
}

func (w *world) familyRegistries() Registries {
	reg := w.registries()
	reg.Builders.Register("localfam", func(body hcl.Body, ectx *hcl.EvalContext) (builder.Builder, hcl.Diagnostics) {
		w.mu.Lock()
		w.decodes++
		w.mu.Unlock()
		b := &localFamilyBuilder{w: w, names: family.NewNames(body, ectx, "name")}
		var refs hcl.Diagnostics
		diags := hclconf.Decode(family.GuardVersion(body, ectx, &refs, "name"), ectx, &b.cfg)
		return b, append(diags, refs...)
	})
	return reg
}

func (b *localFamilyBuilder) Run(ctx context.Context, env *builder.Env, hook builder.Hook) (artifact.Artifact, error) {
	img := env.Image
	if img == nil {
		return nil, errors.New("localfam: no image identity")
	}
	b.w.record("build " + img.Name)
	if err := hook.Provision(ctx, &fakeComm{w: b.w, build: env.Info.Name}, nil); err != nil {
		return nil, err
	}
	dir := filepath.Join(b.cfg.Root, img.Name)
	if b.cfg.Race != "" && !b.w.raced {
		b.w.raced = true
		other := maps.Clone(img.Tags)
		if b.cfg.Race == "other" {
			other[family.TagInputs] = "sha256:other"
		}
		if err := write(dir, img.Name, other); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("make image %s: %w", img.Name, family.ErrNameTaken)
	}
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("make image %s: %w", img.Name, family.ErrNameTaken)
	}
	if err := write(dir, img.Name, img.Tags); err != nil {
		return nil, err
	}
	return &fakeArtifact{w: b.w, id: filepath.Join(dir, img.Name+".qcow2"), typ: "localfam"}, nil
}

// write writes an image named name and its sidecar into dir.
func write(dir, name string, tags map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	file := name + ".qcow2"
	if err := os.WriteFile(filepath.Join(dir, file), []byte("disk of "+name), 0o644); err != nil {
		return err
	}
	return family.WriteSidecar(dir, family.Sidecar{
		Family: tags[family.TagFamily], Version: tags[family.TagVersion], Name: name,
		Created: time.Now(), Files: []string{file}, Tags: tags,
	})
}

func (b *localFamilyBuilder) FamilyCatalog(context.Context, string) (family.Catalog, error) {
	return &family.Local{Root: b.cfg.Root}, nil
}

func (b *localFamilyBuilder) FamilySource(context.Context) ([]byte, string, error) {
	return []byte(`{}`), "base:" + b.cfg.Base, nil
}

func (b *localFamilyBuilder) ImageName(fam, version string) (string, error) {
	return b.names.Value("name", fam, version, family.DefaultName(fam, version))
}

func (b *localFamilyBuilder) FamilyArtifact(img family.Image) artifact.Artifact {
	return &fakeArtifact{w: b.w, id: img.IDs[family.LocalRegion], typ: "localfam"}
}

func (b *localFamilyBuilder) TestImage(ctx context.Context, env *builder.Env, img family.Image, hook builder.Hook) error {
	b.w.record("test " + img.Name)
	return hook.Provision(ctx, &fakeComm{w: b.w, build: env.Info.Name}, nil)
}

const localFamilyTemplate = `
variable "cmd" {
  type    = string
  default = "echo a"
}
variable "test" {
  type    = string
  default = "true"
}
variable "keep" {
  type    = number
  default = 0
}
source "localfam" "x" {
  root = "ROOT"
}
build {
  sources = ["source.localfam.x"]
  family {
    name    = "web"
    channel = "candidate"
    keep    = var.keep
    test {
      provisioner "record" {
        command = var.test
      }
    }
  }
  provisioner "record" {
    command = var.cmd
  }
}
`

func TestFamilyLocalFlow(t *testing.T) {
	root := t.TempDir()
	w := &world{}
	src := strings.Replace(localFamilyTemplate, "ROOT", root, 1)
	run := func(vars ...string) (*Result, *eventtest.Recorder) {
		t.Helper()
		tpl := load(t, src, template.WithVars(vars...))
		builds, diags := Plan(tpl, w.familyRegistries(), nil, nil)
		if diags.HasErrors() {
			t.Fatalf("plan: %v", diags)
		}
		ev := &eventtest.Recorder{}
		return Run(context.Background(), tpl, builds, Options{Events: ev, KilnVersion: "1.2.3"}), ev
	}
	cat := &family.Local{Root: root}
	ctx := context.Background()

	res, _ := run()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	first := ids(res.Builds[0].Artifacts)
	res, ev := run()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if got := ids(res.Builds[0].Artifacts); strings.Join(got, ",") != strings.Join(first, ",") {
		t.Errorf("unchanged build: %v, want %v", got, first)
	}
	if !strings.Contains(strings.Join(messages(ev), "\n"), "inputs unchanged") {
		t.Errorf("no reuse message: %v", messages(ev))
	}
	builds := 0
	for _, c := range w.recorded() {
		if strings.HasPrefix(c, "build ") {
			builds++
		}
	}
	if builds != 1 {
		t.Errorf("%d builds ran for two unchanged runs: %v", builds, w.recorded())
	}
	if res, _ := run("cmd=echo b"); res.Err() != nil {
		t.Fatal(res.Err())
	}
	imgs, err := cat.Images(ctx, "web")
	if err != nil || len(imgs) != 2 || imgs[0].Version != "1.0.0" || imgs[1].Version != "1.0.1" {
		t.Fatalf("images: %+v, %v", imgs, err)
	}
	for _, img := range imgs {
		if img.Status != family.StatusTested || img.Tags[family.TagKilnVersion] != "1.2.3" || img.Inputs == "" {
			t.Errorf("%s: %+v", img.Version, img)
		}
	}
	if imgs[0].Inputs == imgs[1].Inputs {
		t.Error("a changed provisioner did not change the digest")
	}
	if _, err := family.Promote(ctx, cat, "web", "1.0.0", "stable"); err != nil {
		t.Fatal(err)
	}
	if _, err := family.Promote(ctx, cat, "web", "1.0.1", "stable"); err != nil {
		t.Fatal(err)
	}
	if img, err := family.Rollback(ctx, cat, "web", "stable"); err != nil || img.Version != "1.0.0" {
		t.Fatalf("rollback: %v %v", img.Version, err)
	}
	hist, _ := cat.History(ctx, "web", "stable")
	var moves []string
	for _, m := range hist {
		moves = append(moves, m.Version)
	}
	if strings.Join(moves, " ") != "1.0.0 1.0.1 1.0.0" {
		t.Errorf("history %v", moves)
	}
	// keep = 2 on the fourth version: 1.0.1 goes, 1.0.0 (stable) stays.
	if res, _ := run("cmd=echo c"); res.Err() != nil {
		t.Fatal(res.Err())
	}
	if res, _ := run("cmd=echo d", "keep=2"); res.Err() != nil {
		t.Fatal(res.Err())
	}
	imgs, _ = cat.Images(ctx, "web")
	var vs []string
	for _, img := range imgs {
		vs = append(vs, img.Version)
	}
	if strings.Join(vs, " ") != "1.0.0 1.0.2 1.0.3" {
		t.Errorf("after keep = 2: %v", vs)
	}
	if _, err := os.Stat(filepath.Join(root, "web-1.0.1")); !os.IsNotExist(err) {
		t.Errorf("web-1.0.1 still exists: %v", err)
	}
	// A failing test: failed-test, not promoted, the build fails.
	chs, _ := cat.Channels(ctx, "web")
	res, _ = run("cmd=echo e", "test=exit 3")
	if res.Err() == nil {
		t.Fatal("a failing test block did not fail the build")
	}
	img, err := family.Find(ctx, cat, "web", "1.0.4")
	if err != nil || img.Status != family.StatusFailedTest {
		t.Fatalf("1.0.4: %+v %v", img, err)
	}
	after, _ := cat.Channels(ctx, "web")
	if after["candidate"] != chs["candidate"] || after["candidate"] != "1.0.3" {
		t.Errorf("candidate moved: %v → %v", chs, after)
	}
	// The same failing inputs are not reused: the next run builds again.
	res, _ = run("cmd=echo e", "test=exit 3")
	if res.Err() == nil {
		t.Fatal("rebuilding failed-test inputs succeeded")
	}
	if _, err := family.Find(ctx, cat, "web", "1.0.5"); err != nil {
		t.Errorf("failed-test inputs were reused: %v", err)
	}
}

func TestFamilyNeedsFamilyBuilder(t *testing.T) {
	w := &world{}
	tpl := load(t, `
source "fake" "x" {}
build {
  sources = ["source.fake.x"]
  family {
    name = "web"
  }
}`)
	_, diags := Plan(tpl, w.registries(), nil, nil)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "cannot build images of a family") {
		t.Errorf("diags = %v", diags)
	}
}

// TestFamilyNamedByEngine: a source decoded once (when planned) names
// each version it is asked for with ${family.version}; Run gets the name
// and the lineage tags in builder.Env.Image.
func TestFamilyNamedByEngine(t *testing.T) {
	root := t.TempDir()
	w := &world{}
	src := strings.Replace(localFamilyTemplate, `root = "ROOT"`, `root = "`+root+`"`+"\n  name = \"app-${family.version}\"", 1)
	for _, cmd := range []string{"cmd=echo a", "cmd=echo b"} {
		tpl := load(t, src, template.WithVars(cmd))
		builds, diags := Plan(tpl, w.familyRegistries(), nil, nil)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if err := Run(context.Background(), tpl, builds, Options{}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if w.decodes != 2 {
		t.Errorf("the source was decoded %d times for two plans", w.decodes)
	}
	imgs, err := (&family.Local{Root: root}).Images(context.Background(), "web")
	if err != nil || len(imgs) != 2 {
		t.Fatalf("images %+v, %v", imgs, err)
	}
	for _, img := range imgs {
		if img.Name != "app-"+img.Version || img.Tags[family.TagVersion] != img.Version || img.Tags[family.TagFamily] != "web" {
			t.Errorf("image %s: name %q, tags %v", img.Version, img.Name, img.Tags)
		}
	}
}

// TestFamilyVersionOutsideName: family.version anywhere but the naming
// attributes is an error at validation; family.name is fine.
func TestFamilyVersionOutsideName(t *testing.T) {
	w := &world{}
	for base, want := range map[string]string{
		`"b-${family.version}"`: "family.version cannot be used in base",
		`family.name`:           "",
	} {
		src := strings.Replace(localFamilyTemplate, `root = "ROOT"`, `root = "`+t.TempDir()+`"`+"\n  base = "+base, 1)
		_, diags := Plan(load(t, src), w.familyRegistries(), nil, nil)
		if got := diags.Error(); (want == "") != !diags.HasErrors() || !strings.Contains(got, want) {
			t.Errorf("base = %s: %v, want %q", base, got, want)
		}
	}
}

// TestFamilyNameRace: another runner takes the version's name while this
// build runs. With other inputs, this build takes the next version; with
// the same inputs, both end with one image.
func TestFamilyNameRace(t *testing.T) {
	for _, race := range []string{"other", "same"} {
		t.Run(race, func(t *testing.T) {
			root := t.TempDir()
			w := &world{}
			src := strings.Replace(localFamilyTemplate, `root = "ROOT"`, `root = "`+root+`"`+"\n  race = \""+race+"\"", 1)
			tpl := load(t, src)
			builds, diags := Plan(tpl, w.familyRegistries(), nil, nil)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			res := Run(context.Background(), tpl, builds, Options{})
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			if w.decodes != 1 {
				t.Errorf("the source was decoded %d times; once is when it was planned", w.decodes)
			}
			imgs, _ := (&family.Local{Root: root}).Images(context.Background(), "web")
			var vs []string
			for _, img := range imgs {
				vs = append(vs, img.Version)
			}
			want := map[string]string{"other": "1.0.0 1.0.1", "same": "1.0.0"}[race]
			if strings.Join(vs, " ") != want {
				t.Errorf("versions %v, want %s", vs, want)
			}
			if got := ids(res.Builds[0].Artifacts); race == "same" && !strings.HasSuffix(got[0], "web-1.0.0.qcow2") {
				t.Errorf("artifact %v, want the other runner's 1.0.0", got)
			}
		})
	}
}

func TestFamilyNameMustHoldVersion(t *testing.T) {
	w := &world{}
	src := strings.Replace(localFamilyTemplate, `root = "ROOT"`, `root = "`+t.TempDir()+`"`+"\n  name = \"fixed\"", 1)
	tpl := load(t, src)
	builds, diags := Plan(tpl, w.familyRegistries(), nil, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res := Run(context.Background(), tpl, builds, Options{})
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "must contain the version 1.0.0") {
		t.Errorf("err = %v", err)
	}
	if len(w.recorded()) != 0 {
		t.Errorf("something ran: %v", w.recorded())
	}
}

// TestFamilyVersionInProvisioners: provisioners, test provisioners and
// post-processors see family.name and family.version of the version the
// build is at, also when it reuses an unchanged one.
func TestFamilyVersionInProvisioners(t *testing.T) {
	w := &world{}
	src := strings.Replace(localFamilyTemplate, "ROOT", t.TempDir(), 1)
	src = strings.Replace(src, "command = var.cmd", `command = "echo ${family.name} ${family.version}"`, 1)
	src = strings.Replace(src, "command = var.test", `command = "test ${family.version}"`, 1)
	src = strings.Replace(src, "  provisioner \"record\" {\n    command = \"echo", "  post-processor \"wrap\" {\n    suffix = \"+${family.version}\"\n    keep   = true\n  }\n  provisioner \"record\" {\n    command = \"echo", 1)
	for run := range 2 {
		tpl := load(t, src)
		builds, diags := Plan(tpl, w.familyRegistries(), nil, nil)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		res := Run(context.Background(), tpl, builds, Options{})
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		if got := ids(res.Builds[0].Artifacts); len(got) != 2 || !strings.HasSuffix(got[1], "web-1.0.0.qcow2+1.0.0") {
			t.Errorf("run %d: artifacts %v", run, got)
		}
	}
	if got := strings.Join(w.recorded(), "\n"); !strings.Contains(got, ": echo web 1.0.0") || !strings.Contains(got, ": test 1.0.0") {
		t.Errorf("commands:\n%s", got)
	}
}

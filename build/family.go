package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/family"
	"github.com/kilnhq/kiln/template"
)

// familyEvalContext is the context a build's components are decoded in:
// with a family block, family.name is set and family.version unknown.
func familyEvalContext(ectx *hcl.EvalContext, f *template.Family) *hcl.EvalContext {
	if f == nil {
		return ectx
	}
	return family.EvalContext(ectx, f.Name, "")
}

// planFamily checks that the build's builder can make family images and
// plans the family's test provisioners.
func (p *planner) planFamily(out *Build, ectx *hcl.EvalContext) {
	f := out.Block.Family
	if f == nil {
		return
	}
	if out.builder != nil {
		if _, ok := out.builder.(family.Builder); !ok {
			p.add(hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Family not supported by this source",
				Detail:   fmt.Sprintf("Source type %q cannot build images of a family; amazon-ebs and qemu can.", out.Source.Ref.Type),
				Subject:  f.DeclRange.Ptr(),
			}})
		} else if _, ok := out.builder.(family.Tester); !ok && f.Test != nil {
			p.add(hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Family test not supported by this source",
				Detail:   fmt.Sprintf("Source type %q cannot boot a machine from its image to test it.", out.Source.Ref.Type),
				Subject:  f.Test.DeclRange.Ptr(),
			}})
		}
	}
	if f.Test != nil {
		for _, pb := range f.Test.Provisioners {
			if pp := p.provisioner(out.Source, pb, ectx); pp != nil {
				out.familyTests = append(out.familyTests, pp)
			}
		}
	}
}

// buildFamily runs a build whose block has a family, in named stages:
// resolve its inputs; reuse the image with the same inputs when there is
// one; otherwise pick the next version whose name is free, bake it with
// lineage tags, settle a race with another build of the same inputs, test
// it, promote it and apply retention.
func (r *runner) buildFamily(ctx context.Context, env *builder.Env) ([]artifact.Artifact, error) {
	fr, err := r.resolveFamily(ctx)
	if err != nil {
		return nil, err
	}
	if img, ok := fr.unchanged(fr.imgs); ok {
		fr.say("inputs unchanged (%s): reusing version %s (%s); nothing was launched (-force rebuilds)", short(fr.digest), img.Version, img.Name)
		return r.finishFamily(ctx, img.Version, fr.fb.FamilyArtifact(img))
	}
	version, name, err := fr.pickVersion()
	if err != nil {
		return nil, err
	}
	v, err := fr.bake(ctx, env, version, name)
	if err != nil || v == nil {
		return nil, err
	}
	if v, err = fr.settle(ctx, v); err != nil {
		return nil, err
	}
	if v.art == nil { // another build's image with the same inputs
		return r.finishFamily(ctx, v.img.Version, fr.fb.FamilyArtifact(v.img))
	}
	if err := fr.test(ctx, env, &v.img); err != nil {
		return nil, err
	}
	if err := fr.promote(ctx, v.img); err != nil {
		return nil, err
	}
	if err := fr.prune(ctx); err != nil {
		return nil, err
	}
	return r.finishFamily(ctx, v.img.Version, v.art)
}

// familyRun is one family build's resolved inputs.
type familyRun struct {
	r      *runner
	f      *template.Family
	fb     family.Builder
	cat    family.Catalog
	source string // the source image's ID
	digest string // the inputs digest
	imgs   []family.Image
}

// familyVersion is the version a family build ends with: the one it
// baked (art set) or another build's with the same inputs (art nil).
type familyVersion struct {
	img family.Image
	art artifact.Artifact
}

// resolveFamily opens the catalog, resolves the source image, digests the
// inputs and lists the family's images.
func (r *runner) resolveFamily(ctx context.Context) (*familyRun, error) {
	f := r.b.Block.Family
	fb, ok := r.b.builder.(family.Builder)
	if !ok {
		return nil, fmt.Errorf("source type %q cannot build images of a family", r.b.Source.Ref.Type)
	}
	fr := &familyRun{r: r, f: f, fb: fb}
	var err error
	if fr.cat, err = fb.FamilyCatalog(ctx, f.Name); err != nil {
		return nil, fmt.Errorf("family %s: open catalog: %w", f.Name, err)
	}
	cfg, source, err := fb.FamilySource(ctx)
	if err != nil {
		return nil, fmt.Errorf("family %s: %w", f.Name, err)
	}
	fr.source = source
	if fr.digest, err = r.inputsDigest(cfg, source); err != nil {
		return nil, fmt.Errorf("family %s: %w", f.Name, err)
	}
	if fr.imgs, err = fr.cat.Images(ctx, f.Name); err != nil {
		return nil, fmt.Errorf("family %s: %w", f.Name, err)
	}
	return fr, nil
}

func (fr *familyRun) say(format string, args ...any) {
	fr.r.sink.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("family %s: ", fr.f.Name) + fmt.Sprintf(format, args...)})
}

// unchanged returns the image of imgs with this build's inputs that can be
// reused, unless -force.
func (fr *familyRun) unchanged(imgs []family.Image) (family.Image, bool) {
	if fr.r.opts.Force {
		return family.Image{}, false
	}
	return sameInputs(imgs, fr.digest, "")
}

// pickVersion returns the next version and its image name. The image name
// is the lock: a version whose name is taken goes to the build that took
// it, this one takes the next.
func (fr *familyRun) pickVersion() (version, name string, err error) {
	versions := make([]string, len(fr.imgs))
	names := map[string]bool{}
	for i, img := range fr.imgs {
		versions[i] = img.Version
		names[img.Name] = true
	}
	if version, err = family.NextVersion(versions, fr.f.Version); err != nil {
		return "", "", fmt.Errorf("family %s: %w", fr.f.Name, err)
	}
	for {
		if name, err = fr.imageName(version); err != nil {
			return "", "", err
		}
		if !names[name] && !slices.Contains(versions, version) {
			break
		}
		if !autoVersion(fr.f.Version) {
			return "", "", fmt.Errorf("family %s: an image named %s exists already", fr.f.Name, name)
		}
		if version, err = family.Bump(version); err != nil {
			return "", "", err
		}
	}
	if !strings.Contains(name, version) {
		return "", "", fmt.Errorf("family %s: the image name %q must contain the version %s (use ${family.version}, or leave the name unset)", fr.f.Name, name, version)
	}
	return version, name, nil
}

func (fr *familyRun) imageName(version string) (string, error) {
	name, err := fr.fb.ImageName(fr.f.Name, version)
	if err != nil {
		return "", fmt.Errorf("family %s: name version %s: %w", fr.f.Name, version, err)
	}
	return name, nil
}

// bake runs the builder for version, named name, with its lineage tags.
// When another build takes the name first, an automatic version policy
// takes the next version, or reuses the other build's image when it has
// the same inputs. It returns nil when the builder made nothing.
func (fr *familyRun) bake(ctx context.Context, env *builder.Env, version, name string) (*familyVersion, error) {
	for attempt := 1; ; attempt++ {
		fr.r.setVersion(version)
		benv := *env
		benv.Image = &builder.Image{Name: name, Family: fr.f.Name, Version: version, Tags: fr.r.lineage(fr.f.Name, version, fr.digest, fr.source)}
		fr.say("building version %s as %s (inputs %s)", version, name, short(fr.digest))
		art, err := fr.fb.Run(ctx, &benv, builder.HookFunc(fr.r.provision))
		if errors.Is(err, family.ErrNameTaken) && autoVersion(fr.f.Version) && attempt < maxNameAttempts {
			if imgs, lerr := fr.cat.Images(ctx, fr.f.Name); lerr == nil {
				if img, ok := fr.unchanged(imgs); ok {
					fr.say("another build made version %s from the same inputs meanwhile: reusing it", img.Version)
					return &familyVersion{img: img}, nil
				}
			}
			next, err := family.Bump(version)
			if err != nil {
				return nil, err
			}
			fr.say("another build took %s: building %s instead", name, next)
			version = next
			if name, err = fr.imageName(version); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil || art == nil {
			return nil, err
		}
		img, err := family.Find(ctx, fr.cat, fr.f.Name, version)
		if err != nil {
			return nil, fmt.Errorf("family %s: find the new image: %w", fr.f.Name, err)
		}
		return &familyVersion{img: img, art: art}, nil
	}
}

// settle keeps one image when two runners built the same inputs at once:
// the older version stays and the image v baked is removed.
func (fr *familyRun) settle(ctx context.Context, v *familyVersion) (*familyVersion, error) {
	if v.art == nil {
		return v, nil // not baked here
	}
	imgs, err := fr.cat.Images(ctx, fr.f.Name)
	if err != nil {
		return v, nil // the duplicate, if there is one, stays for retention
	}
	older, ok := sameInputs(imgs, fr.digest, v.img.Version)
	if !ok || !lessVersion(older.Version, v.img.Version) {
		return v, nil
	}
	fr.say("version %s with the same inputs appeared meanwhile: removing %s and keeping it", older.Version, v.img.Version)
	if err := fr.cat.Delete(ctx, v.img); err != nil {
		return nil, fmt.Errorf("family %s: remove duplicate %s: %w", fr.f.Name, v.img.Version, err)
	}
	return &familyVersion{img: older}, nil
}

// test runs the family's test block on a fresh machine booted from img
// and records the outcome in the catalog (tested, or failed-test and an
// error).
func (fr *familyRun) test(ctx context.Context, env *builder.Env, img *family.Image) error {
	if fr.f.Test == nil {
		return nil
	}
	fr.say("testing version %s on a fresh machine", img.Version)
	fr.r.setVersion(img.Version)
	tester, ok := fr.fb.(family.Tester)
	if !ok {
		return fmt.Errorf("family %s: source type %q cannot test its images", fr.f.Name, fr.r.b.Source.Ref.Type)
	}
	// The test machine is a new machine: its own ID (cloud-init then takes
	// the new host key), its own temporary resources; it makes no image.
	tenv := *env
	tenv.Info.ID += "-test"
	tenv.Image = nil
	terr := tester.TestImage(ctx, &tenv, *img, builder.HookFunc(func(ctx context.Context, comm communicator.Communicator, data map[string]string) error {
		return fr.r.provisionWith(ctx, fr.r.b.familyTests, comm, data)
	}))
	if terr != nil {
		if err := fr.cat.SetStatus(context.WithoutCancel(ctx), *img, family.StatusFailedTest); err != nil {
			terr = errors.Join(terr, err)
		}
		return fmt.Errorf("family %s: version %s failed its test (marked %s, not promoted): %w", fr.f.Name, img.Version, family.StatusFailedTest, terr)
	}
	if err := fr.cat.SetStatus(ctx, *img, family.StatusTested); err != nil {
		return fmt.Errorf("family %s: %w", fr.f.Name, err)
	}
	img.Status = family.StatusTested
	fr.say("version %s passed its test", img.Version)
	return nil
}

// promote points the family's channel, when it has one, at img.
func (fr *familyRun) promote(ctx context.Context, img family.Image) error {
	if fr.f.Channel == "" {
		return nil
	}
	if err := fr.cat.Point(ctx, img, fr.f.Channel); err != nil {
		return fmt.Errorf("family %s: promote %s: %w", fr.f.Name, img.Version, err)
	}
	fr.say("channel %s now points at version %s", fr.f.Channel, img.Version)
	return nil
}

// prune applies the family's retention (keep), when it has one.
func (fr *familyRun) prune(ctx context.Context) error {
	if fr.f.Keep <= 0 {
		return nil
	}
	plan, err := family.Prune(ctx, fr.cat, fr.f.Name, fr.f.Keep, false)
	for _, d := range plan {
		if d.Remove {
			fr.say("retention (keep = %d): removed version %s (%s) with its snapshots", fr.f.Keep, d.Image.Version, d.Image.Name)
		}
	}
	if err != nil {
		return fmt.Errorf("family %s: retention: %w", fr.f.Name, err)
	}
	return nil
}

// maxNameAttempts bounds how often a build takes the next version because
// another build took its image name first.
const maxNameAttempts = 5

// autoVersion reports whether the family's version policy picks versions
// (rather than naming one).
func autoVersion(policy string) bool {
	return policy == "auto" || policy == "minor" || policy == "major"
}

// finishFamily reports the artifact of version and runs the
// post-processors.
func (r *runner) finishFamily(ctx context.Context, version string, art artifact.Artifact) ([]artifact.Artifact, error) {
	r.setVersion(version)
	r.artifactCreated(art)
	return r.postProcess(ctx, art)
}

// setVersion makes family.version the version the build is at for the
// provisioners and post-processors decoded from now on.
func (r *runner) setVersion(version string) {
	r.version = version
	r.setData(r.data)
}

// sameInputs returns the oldest image with inputs digest that did not fail
// its test, other than version.
func sameInputs(imgs []family.Image, digest, version string) (family.Image, bool) {
	for _, img := range imgs { // oldest first
		if img.Inputs == digest && img.Status != family.StatusFailedTest && img.Version != version {
			return img, true
		}
	}
	return family.Image{}, false
}

func lessVersion(a, b string) bool {
	s := []family.Image{{Version: b}, {Version: a}}
	family.SortImages(s)
	return s[0].Version == a
}

func short(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	return d[:min(12, len(d))]
}

// lineage returns the lineage tags of a new version.
func (r *runner) lineage(fam, version, digest, source string) map[string]string {
	tags := map[string]string{
		family.TagFamily:      fam,
		family.TagVersion:     version,
		family.TagInputs:      digest,
		family.TagSourceImage: source,
		family.TagBuiltAt:     r.info.Started.UTC().Format(time.RFC3339),
		family.TagKilnVersion: r.kilnVersion(),
		family.TagStatus:      family.StatusBuilt,
	}
	if r.info.Started.IsZero() {
		tags[family.TagBuiltAt] = time.Now().UTC().Format(time.RFC3339)
	}
	if commit, dirty, ok := gitState(r.tpl.Root); ok {
		tags[family.TagGitCommit] = commit
		tags[family.TagGitDirty] = strconv.FormatBool(dirty)
	}
	return tags
}

func (r *runner) kilnVersion() string {
	if r.opts.KilnVersion == "" {
		return "devel"
	}
	return r.opts.KilnVersion
}

// gitState returns HEAD and whether the work tree has changes, when dir is
// in a git work tree and git is installed.
func gitState(dir string) (commit string, dirty, ok bool) {
	if dir == "" {
		dir = "."
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false, false
	}
	commit = strings.TrimSpace(string(out))
	st, err := exec.Command("git", "-C", dir, "status", "--porcelain").Output()
	if err != nil {
		return commit, false, true
	}
	return commit, len(bytes.TrimSpace(st)) > 0, true
}

// inputsDigest computes the inputs digest as package family documents it.
func (r *runner) inputsDigest(sourceConfig []byte, sourceImage string) (string, error) {
	major, _, _ := strings.Cut(strings.TrimPrefix(r.kilnVersion(), "v"), ".")
	d := family.NewDigest(major)
	d.Add("source-config", "", sourceConfig)
	d.Add("source-image", "", []byte(sourceImage))
	ectx := r.tpl.EvalContext(r.b.Block, r.b.Source, nil)
	for _, list := range []struct {
		kind string
		ps   []*plannedProvisioner
	}{{"provisioner", r.b.provisioners}, {"test-provisioner", r.b.familyTests}} {
		for i, p := range list.ps {
			if !p.sel.includes(r.b.Source) {
				continue
			}
			if err := digestProvisioner(d, list.kind, fmt.Sprintf("%d:%s", i, p.block.Type), p.block.BodyFor(r.b.Source), ectx); err != nil {
				return "", fmt.Errorf("inputs digest: %s: %w", p.source, err)
			}
		}
	}
	return d.Sum(), nil
}

// fileAttributes are the provisioner attributes that name local files
// whose bytes are part of the digest.
var fileAttributes = []string{"script", "scripts", "source", "sources"}

func digestProvisioner(d *family.Digest, kind, name string, body hcl.Body, ectx *hcl.EvalContext) error {
	attrs, _ := body.JustAttributes() // nested blocks are not part of a provisioner's digest
	values := map[string]json.RawMessage{}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		v, diags := attrs[k].Expr.Value(ectx)
		if diags.HasErrors() {
			v = cty.DynamicVal
		}
		values[k] = jsonValue(v)
	}
	cfg, err := json.Marshal(values)
	if err != nil {
		return err
	}
	d.Add(kind, name, cfg)
	for _, k := range fileAttributes {
		a, ok := attrs[k]
		if !ok {
			continue
		}
		v, diags := a.Expr.Value(ectx)
		if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
			continue
		}
		v, _ = v.UnmarkDeep()
		var paths []string
		switch {
		case v.Type() == cty.String:
			paths = []string{v.AsString()}
		case v.CanIterateElements():
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				if e.Type() == cty.String && !e.IsNull() {
					paths = append(paths, e.AsString())
				}
			}
		}
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				continue // not a local file (a download's remote source)
			}
			if err := d.AddPath(p, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonValue renders v as JSON, unknown values as "(unknown)".
func jsonValue(v cty.Value) json.RawMessage {
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		return json.RawMessage(`"(unknown)"`)
	}
	b, err := ctyjson.SimpleJSONValue{Value: v}.MarshalJSON()
	if err != nil {
		return json.RawMessage(strconv.Quote(v.GoString()))
	}
	return b
}

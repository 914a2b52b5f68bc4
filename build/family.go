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

// familyEvalContext adds the family variable (family.name, family.version)
// to ectx for a build with a family block; version "" is unknown (when
// planning). Builders read it to name their images.
func familyEvalContext(ectx *hcl.EvalContext, f *template.Family, version string) *hcl.EvalContext {
	if f == nil {
		return ectx
	}
	v := cty.UnknownVal(cty.String)
	if version != "" {
		v = cty.StringVal(version)
	}
	vars := maps.Clone(ectx.Variables)
	vars["family"] = cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(f.Name), "version": v})
	return &hcl.EvalContext{Variables: vars, Functions: ectx.Functions}
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

// buildFamily runs a build whose block has a family: it reuses the image
// with the same inputs when there is one, or builds the next version with
// lineage tags, tests it, promotes it and applies retention.
func (r *runner) buildFamily(ctx context.Context, env *builder.Env) ([]artifact.Artifact, error) {
	f := r.b.Block.Family
	// The source decoded with a known version: its catalog (such as a
	// local output root derived from output_directory) is the real one.
	planned, err := r.familyBuilder(family.PlaceholderVersion)
	if err != nil {
		return nil, err
	}
	say := func(format string, args ...any) {
		r.sink.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("family %s: ", f.Name) + fmt.Sprintf(format, args...)})
	}
	cat, err := planned.FamilyCatalog(ctx)
	if err != nil {
		return nil, fmt.Errorf("family %s: open catalog: %w", f.Name, err)
	}
	cfg, source, err := planned.FamilySource(ctx)
	if err != nil {
		return nil, fmt.Errorf("family %s: %w", f.Name, err)
	}
	digest, err := r.inputsDigest(cfg, source)
	if err != nil {
		return nil, fmt.Errorf("family %s: %w", f.Name, err)
	}
	imgs, err := cat.Images(ctx, f.Name)
	if err != nil {
		return nil, fmt.Errorf("family %s: %w", f.Name, err)
	}
	if !r.opts.Force {
		if img, ok := sameInputs(imgs, digest, ""); ok {
			say("inputs unchanged (%s): reusing version %s (%s); nothing was launched (-force rebuilds)", short(digest), img.Version, img.Name)
			return r.finishFamily(ctx, planned.FamilyArtifact(img))
		}
	}

	versions := make([]string, len(imgs))
	names := map[string]bool{}
	for i, img := range imgs {
		versions[i] = img.Version
		names[img.Name] = true
	}
	version, err := family.NextVersion(versions, f.Version)
	if err != nil {
		return nil, fmt.Errorf("family %s: %w", f.Name, err)
	}
	// The image name is the lock: a version whose name is taken goes to
	// the build that took it, this one takes the next.
	var fb family.Builder
	for {
		if fb, err = r.familyBuilder(version); err != nil {
			return nil, err
		}
		if !names[fb.ImageName()] && !slices.Contains(versions, version) {
			break
		}
		if !autoVersion(f.Version) {
			return nil, fmt.Errorf("family %s: an image named %s exists already", f.Name, fb.ImageName())
		}
		if version, err = family.Bump(version); err != nil {
			return nil, err
		}
	}
	if !strings.Contains(fb.ImageName(), version) {
		return nil, fmt.Errorf("family %s: the image name %q must contain the version %s (use ${family.version}, or leave the name unset)", f.Name, fb.ImageName(), version)
	}
	var art artifact.Artifact
	for attempt := 1; ; attempt++ {
		fb.SetLineage(r.lineage(f.Name, version, digest, source))
		say("building version %s as %s (inputs %s)", version, fb.ImageName(), short(digest))
		art, err = fb.Run(ctx, env, builder.HookFunc(r.provision))
		if !errors.Is(err, family.ErrNameTaken) || !autoVersion(f.Version) || attempt == maxNameAttempts {
			break
		}
		if imgs, lerr := cat.Images(ctx, f.Name); lerr == nil && !r.opts.Force {
			if img, ok := sameInputs(imgs, digest, ""); ok {
				say("another build made version %s from the same inputs meanwhile: reusing it", img.Version)
				return r.finishFamily(ctx, planned.FamilyArtifact(img))
			}
		}
		next, berr := family.Bump(version)
		if berr != nil {
			return nil, berr
		}
		say("another build took %s: building %s instead", fb.ImageName(), next)
		version = next
		if fb, err = r.familyBuilder(version); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	if art == nil {
		return nil, nil
	}
	img, err := family.Find(ctx, cat, f.Name, version)
	if err != nil {
		return nil, fmt.Errorf("family %s: find the new image: %w", f.Name, err)
	}
	// Two runners that built the same inputs at once end with one image:
	// the older version stays.
	if imgs, err := cat.Images(ctx, f.Name); err == nil {
		if older, ok := sameInputs(imgs, digest, version); ok && lessVersion(older.Version, version) {
			say("version %s with the same inputs appeared meanwhile: removing %s and keeping it", older.Version, version)
			if err := cat.Delete(ctx, img); err != nil {
				return nil, fmt.Errorf("family %s: remove duplicate %s: %w", f.Name, version, err)
			}
			return r.finishFamily(ctx, planned.FamilyArtifact(older))
		}
	}

	if f.Test != nil {
		say("testing version %s on a fresh machine", version)
		// The test machine is a new machine: its own ID (cloud-init then
		// takes the new host key), its own temporary resources.
		tenv := *env
		tenv.Info.ID += "-test"
		tester, ok := fb.(family.Tester)
		if !ok {
			return nil, fmt.Errorf("family %s: source type %q cannot test its images", f.Name, r.b.Source.Ref.Type)
		}
		terr := tester.TestImage(ctx, &tenv, img, builder.HookFunc(func(ctx context.Context, comm communicator.Communicator, data map[string]string) error {
			return r.provisionWith(ctx, r.b.familyTests, comm, data)
		}))
		if terr != nil {
			if err := cat.SetStatus(context.WithoutCancel(ctx), img, family.StatusFailedTest); err != nil {
				terr = errors.Join(terr, err)
			}
			return nil, fmt.Errorf("family %s: version %s failed its test (marked %s, not promoted): %w", f.Name, version, family.StatusFailedTest, terr)
		}
		if err := cat.SetStatus(ctx, img, family.StatusTested); err != nil {
			return nil, fmt.Errorf("family %s: %w", f.Name, err)
		}
		img.Status = family.StatusTested
		say("version %s passed its test", version)
	}
	if f.Channel != "" {
		if err := cat.Point(ctx, img, f.Channel); err != nil {
			return nil, fmt.Errorf("family %s: promote %s: %w", f.Name, version, err)
		}
		say("channel %s now points at version %s", f.Channel, version)
	}
	if f.Keep > 0 {
		plan, err := family.Prune(ctx, cat, f.Name, f.Keep, false)
		for _, d := range plan {
			if d.Remove {
				say("retention (keep = %d): removed version %s (%s) with its snapshots", f.Keep, d.Image.Version, d.Image.Name)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("family %s: retention: %w", f.Name, err)
		}
	}
	return r.finishFamily(ctx, art)
}

// maxNameAttempts bounds how often a build takes the next version because
// another build took its image name first.
const maxNameAttempts = 5

// autoVersion reports whether the family's version policy picks versions
// (rather than naming one).
func autoVersion(policy string) bool {
	return policy == "auto" || policy == "minor" || policy == "major"
}

// finishFamily reports the artifact and runs the post-processors.
func (r *runner) finishFamily(ctx context.Context, art artifact.Artifact) ([]artifact.Artifact, error) {
	r.artifactCreated(art)
	return r.postProcess(ctx, art)
}

// familyBuilder decodes the build's source again with family.version set.
func (r *runner) familyBuilder(version string) (family.Builder, error) {
	bld, err := r.decodeBuilder(version)
	if err != nil {
		return nil, fmt.Errorf("version %s: %w", version, err)
	}
	fb, ok := bld.(family.Builder)
	if !ok {
		return nil, fmt.Errorf("source type %q cannot build images of a family", r.b.Source.Ref.Type)
	}
	return fb, nil
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

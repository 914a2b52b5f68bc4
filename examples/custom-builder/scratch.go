//go:build unix

package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/step"
)

// scratchType is the source type label of the scratch builder:
// source "scratch" "NAME" { ... }.
const scratchType = "scratch"

// scratchSpec is the schema of a source "scratch" body. hcldec rejects any
// other attribute, and every block, with the range of the offending item.
var scratchSpec = hcldec.ObjectSpec{
	// output is the path of the tarball the build writes (relative paths
	// are relative to the working directory, as in Packer).
	"output": &hcldec.AttrSpec{Name: "output", Type: cty.String, Required: true},
	// source_dir, if set, is copied into the machine's root before it
	// boots: the scratch builder's source image.
	"source_dir": &hcldec.AttrSpec{Name: "source_dir", Type: cty.String},
}

// scratchBuilder is a decoded source "scratch" block. Its Run makes a root
// directory, boots a machine in it, provisions it and writes the root as a
// gzipped tarball.
type scratchBuilder struct {
	output    string
	sourceDir string
}

var _ builder.Factory = newScratch

// newScratch decodes a source "scratch" body. It has no side effects, as a
// builder.Factory must not: it runs for kiln validate too, where values that
// are not known yet (from data sources) are left unknown.
func newScratch(body hcl.Body, ectx *hcl.EvalContext) (builder.Builder, hcl.Diagnostics) {
	val, diags := hcldec.Decode(body, scratchSpec, ectx)
	if diags.HasErrors() {
		return nil, diags
	}
	b := &scratchBuilder{
		output:    knownString(val.GetAttr("output")),
		sourceDir: knownString(val.GetAttr("source_dir")),
	}
	if out := val.GetAttr("output"); out.IsKnown() && b.output == "" {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Empty output",
			Detail:   "output is the path of the tarball the build writes; it cannot be empty.",
			Subject:  hcldec.SourceRange(body, scratchSpec["output"]).Ptr(),
		})
		return nil, diags
	}
	return b, diags
}

// knownString returns v as a string, or "" when it is null or not known yet.
func knownString(v cty.Value) string {
	if v.IsNull() || !v.IsKnown() {
		return ""
	}
	return v.AsString()
}

// scratchState is what the steps of one run share.
type scratchState struct {
	root    string
	machine *machine
	entries int // in the tarball
}

// Run runs the build's steps with the runner the engine configured (its
// on-error policy, asker and cleanup stop) and returns the tarball.
func (b *scratchBuilder) Run(ctx context.Context, env *builder.Env, hook builder.Hook) (artifact.Artifact, error) {
	var s scratchState
	err := step.Run(ctx, env.Runner(env.Events), &s,
		step.Step[scratchState]{Name: "prepare output", Run: b.prepareOutput(env.Force)},
		step.Step[scratchState]{Name: "create root", Run: b.createRoot},
		step.Step[scratchState]{Name: "boot", Run: bootMachine(env.Events)},
		step.Step[scratchState]{Name: "provision", Run: provision(hook)},
		step.Step[scratchState]{Name: "shut down", Run: shutDown},
		step.Step[scratchState]{Name: "export", Run: b.export},
	)
	if err != nil {
		return nil, err
	}
	return &tarball{path: b.output, entries: s.entries}, nil
}

// prepareOutput refuses to replace an existing tarball unless force is set
// (kiln build -force, kiln.WithForce), and creates its directory, which is
// kept.
func (b *scratchBuilder) prepareOutput(force bool) func(context.Context, *scratchState, *step.Undo) error {
	return func(context.Context, *scratchState, *step.Undo) error {
		if _, err := os.Lstat(b.output); err == nil && !force {
			return fmt.Errorf("output %s already exists; remove it or build with -force", b.output)
		}
		if err := os.MkdirAll(filepath.Dir(b.output), 0o755); err != nil {
			return fmt.Errorf("prepare output: %w", err)
		}
		return nil
	}
}

// createRoot makes the machine's root directory and fills it from
// source_dir.
func (b *scratchBuilder) createRoot(ctx context.Context, s *scratchState, u *step.Undo) error {
	root, err := os.MkdirTemp("", "kiln-scratch-")
	if err != nil {
		return fmt.Errorf("create root: %w", err)
	}
	u.Push("scratch directory "+root, func(context.Context) error { return os.RemoveAll(root) })
	s.root = root
	if b.sourceDir == "" {
		return nil
	}
	if err := os.CopyFS(root, os.DirFS(b.sourceDir)); err != nil {
		return fmt.Errorf("copy source_dir %s: %w", b.sourceDir, err)
	}
	return nil
}

// bootMachine starts the machine's init process.
func bootMachine(events event.Sink) func(context.Context, *scratchState, *step.Undo) error {
	return func(ctx context.Context, s *scratchState, u *step.Undo) error {
		m, err := boot(s.root)
		if err != nil {
			return err
		}
		u.Push(fmt.Sprintf("machine %s (init pid %d)", m.id(), m.pid()), m.powerOff)
		s.machine = m
		events.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("machine %s booted in %s", m.id(), s.root)})
		return nil
	}
}

// provision hands the machine to the build's provisioners. build.ID (and
// {{ .ID }}) is the machine's ID.
func provision(hook builder.Hook) func(context.Context, *scratchState, *step.Undo) error {
	return func(ctx context.Context, s *scratchState, _ *step.Undo) error {
		return hook.Provision(ctx, s.machine, map[string]string{"ID": s.machine.id()})
	}
}

// shutDown powers the machine off before its root is exported, so nothing
// writes to it meanwhile. The undo registered at boot then has nothing left
// to do.
func shutDown(ctx context.Context, s *scratchState, _ *step.Undo) error {
	return s.machine.powerOff(ctx)
}

// export writes the root directory as a gzipped tarball to output. The
// tarball is the build's result, so it is removed only if the build fails.
func (b *scratchBuilder) export(ctx context.Context, s *scratchState, u *step.Undo) error {
	f, err := os.Create(b.output)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	u.PushOnFailure("tarball "+b.output, func(context.Context) error { return os.Remove(b.output) })
	n, err := writeTarball(ctx, f, s.root)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	s.entries = n
	return nil
}

// writeTarball writes the tree under root to w as a gzipped tar stream and
// returns the number of entries written.
func writeTarball(ctx context.Context, w io.Writer, root string) (int, error) {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n++
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return n, err
	}
	return n, errors.Join(tw.Close(), zw.Close())
}

// tarball is the artifact of a scratch build.
type tarball struct {
	path    string
	entries int
}

var (
	_ artifact.Artifact  = (*tarball)(nil)
	_ artifact.Destroyer = (*tarball)(nil)
)

func (t *tarball) BuilderType() string { return scratchType }
func (t *tarball) ID() string          { return t.path }
func (t *tarball) Files() []string     { return []string{t.path} }
func (t *tarball) String() string {
	return fmt.Sprintf("tarball %s (%d entries)", t.path, t.entries)
}

// Destroy removes the tarball: kiln calls it when no post-processor keeps
// the artifact (keep_input_artifact = false).
func (t *tarball) Destroy(context.Context) error { return os.Remove(t.path) }

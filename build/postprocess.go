package build

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/postprocessor"
)

// postProcess runs the build's post-processor chains on the builder's
// artifact, in order; each chain starts from the builder's artifact and each
// post-processor receives what the previous one returned. It returns the
// artifacts the build leaves: the builder's, unless every chain replaced it
// without keeping it, and the last of each chain plus those kept on the way
// (keep_input_artifact, or the post-processor asks to keep its input). An
// artifact nobody keeps is destroyed when it can destroy itself, as Packer
// does. A failure stops the build and names the block.
func (r *runner) postProcess(ctx context.Context, art artifact.Artifact) ([]artifact.Artifact, error) {
	if len(r.b.postProcessors) == 0 {
		return []artifact.Artifact{art}, nil
	}
	var made []artifact.Artifact
	keepOriginal := false
	for _, chain := range r.b.postProcessors {
		cur := art
		for _, p := range chain {
			if !p.sel.includes(r.b.Source) {
				continue
			}
			out, keep, err := r.runPostProcessor(ctx, p, cur)
			if err != nil {
				// The build failed: report all that exists, destroy nothing.
				left := append([]artifact.Artifact{art}, made...)
				if !same(cur, art) {
					left = append(left, cur)
				}
				return left, err
			}
			if out == nil || same(out, cur) {
				continue
			}
			r.artifactCreated(out)
			if keep || (p.block.KeepInputArtifact != nil && *p.block.KeepInputArtifact) {
				if same(cur, art) {
					keepOriginal = true
				} else {
					made = append(made, cur)
				}
			} else if !same(cur, art) {
				r.discard(ctx, cur)
			}
			cur = out
		}
		if same(cur, art) {
			keepOriginal = true
		} else {
			made = append(made, cur)
		}
	}
	if !keepOriginal {
		r.discard(ctx, art)
		return made, nil
	}
	return append([]artifact.Artifact{art}, made...), nil
}

func (r *runner) runPostProcessor(ctx context.Context, p *plannedPostProcessor, in artifact.Artifact) (artifact.Artifact, bool, error) {
	pp, diags := p.factory(p.block.Body, r.ectx)
	r.warn(p.source, diags)
	if diags.HasErrors() {
		return nil, false, fmt.Errorf("%s: %w", p.source, diags)
	}
	r.sink.Emit(&event.StepStarted{Step: p.source})
	start := time.Now()
	env := &postprocessor.Env{Info: r.info, Events: r.sink, Source: p.source, Force: r.opts.Force, Secrets: r.secretValues()}
	out, keep, err := pp.PostProcess(ctx, env, in)
	fin := &event.StepFinished{Step: p.source, Duration: time.Since(start)}
	if err != nil {
		err = fmt.Errorf("%s: %w", p.source, err)
		fin.Error = err.Error()
	}
	r.sink.Emit(fin)
	return out, keep, err
}

// discard destroys an artifact that no post-processor kept, when it can.
func (r *runner) discard(ctx context.Context, a artifact.Artifact) {
	d, ok := a.(artifact.Destroyer)
	if !ok {
		return
	}
	r.sink.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("removing artifact %s: no post-processor kept it (keep_input_artifact)", a.ID())})
	if err := d.Destroy(ctx); err != nil {
		r.sink.Emit(&event.Message{Level: event.Warn, Text: fmt.Sprintf("remove artifact %s: %v", a.ID(), err)})
	}
}

// same reports whether a and b are the same artifact, without panicking on
// artifact types that are not comparable.
func same(a, b artifact.Artifact) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || !ta.Comparable() {
		return false
	}
	return a == b
}

package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/clock"
	"github.com/kilnhq/kiln/provisioner"
	"github.com/kilnhq/kiln/step"
)

// retryDelay is the wait before retry number attempt (from 1) of a
// provisioner with max_retries: 1 s, doubling up to 30 s.
func retryDelay(attempt int) time.Duration {
	return min(time.Second<<(attempt-1), 30*time.Second)
}

// sleep is how pause_before and the waits between retries pass; tests
// record the waits instead of sitting through them.
var sleep = clock.Sleep

// provision is the Hook the builder calls once the machine is reachable: it
// runs the build's provisioners in order over comm, with build.* set from
// data (a nil comm makes every call of the provisioners fail with
// ErrNoCommunicator). When one fails, the error-cleanup-provisioner runs (unless the
// on-error policy is abort or the build was cancelled) and the failure is
// returned, naming the block.
func (r *runner) provision(ctx context.Context, comm communicator.Communicator, data map[string]string) error {
	return r.provisionWith(ctx, r.b.provisioners, comm, data)
}

// provisionWith runs the provisioners list as provision runs the build's.
func (r *runner) provisionWith(ctx context.Context, list []*plannedProvisioner, comm communicator.Communicator, data map[string]string) error {
	if comm == nil {
		comm = noComm{}
	}
	r.setData(data)
	var secrets []string
	for _, k := range secretKeys {
		secrets = append(secrets, data[k])
	}
	r.secrets.add(secrets...)
	for _, p := range list {
		if !p.sel.includes(r.b.Source) {
			continue
		}
		err := r.runProvisioner(ctx, p, comm)
		if err == nil {
			continue
		}
		if c := r.b.errorCleanup; c != nil && r.opts.OnError != step.Abort && ctx.Err() == nil && c.sel.includes(r.b.Source) {
			if cerr := r.runProvisioner(ctx, c, comm); cerr != nil {
				r.sink.Emit(&event.Message{Level: event.Warn, Text: cerr.Error()})
			}
		}
		return err
	}
	return nil
}

// runProvisioner decodes p with the build's real build.* values and runs
// it, with its pause_before, timeout and max_retries. Errors start with the
// block's name: `provisioner "shell" (web.pkr.hcl:23): exit status 2`.
func (r *runner) runProvisioner(ctx context.Context, p *plannedProvisioner, comm communicator.Communicator) error {
	prov, diags := p.factory(p.block.BodyFor(r.b.Source), r.ectx)
	r.warn(p.source, diags)
	if diags.HasErrors() {
		return fmt.Errorf("%s: %w", p.source, diags)
	}
	r.sink.Emit(&event.StepStarted{Step: p.source})
	start := time.Now()
	err := r.attempts(ctx, p, prov, comm)
	fin := &event.StepFinished{Step: p.source, Duration: time.Since(start)}
	if err != nil {
		err = fmt.Errorf("%s: %w", p.source, err)
		fin.Error = err.Error()
	}
	r.sink.Emit(fin)
	return err
}

func (r *runner) attempts(ctx context.Context, p *plannedProvisioner, prov provisioner.Provisioner, comm communicator.Communicator) error {
	if d := p.block.PauseBefore; d > 0 {
		r.sink.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("%s: pausing %s before it runs", p.source, d)})
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	env := &provisioner.Env{Info: r.info, Events: r.sink, Source: p.source, Data: r.data}
	tries := 1 + max(p.block.MaxRetries, 0)
	for attempt := 1; ; attempt++ {
		err := runWithTimeout(ctx, p.block.Timeout, func(ctx context.Context) error {
			return prov.Provision(ctx, env, comm)
		})
		if err == nil || attempt == tries || ctx.Err() != nil {
			return err
		}
		delay := retryDelay(attempt)
		r.sink.Emit(&event.Message{Level: event.Warn, Text: fmt.Sprintf("%s failed (attempt %d of %d): %v; retrying in %s", p.source, attempt, tries, err, delay)})
		if err := sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// runWithTimeout runs f under a timeout when it is positive, and says so
// in the error when the timeout, not the caller, ended it.
func runWithTimeout(ctx context.Context, timeout time.Duration, f func(context.Context) error) error {
	if timeout <= 0 {
		return f(ctx)
	}
	tctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	err := f(tctx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(tctx), errTimeout) {
		return fmt.Errorf("timed out after %s: %w", timeout, err)
	}
	return err
}

var errTimeout = errors.New("timeout reached")

// warn emits the warnings among diags as events.
func (r *runner) warn(source string, diags hcl.Diagnostics) {
	for _, d := range diags {
		if d.Severity != hcl.DiagWarning {
			continue
		}
		text := source + ": " + d.Summary
		if d.Detail != "" {
			text += ": " + d.Detail
		}
		r.sink.Emit(&event.Message{Level: event.Warn, Text: text})
	}
}

// ErrNoCommunicator is returned by every call a provisioner makes when the
// build has no communicator (communicator = "none"): only provisioners that
// work locally, such as shell-local, can run then.
var ErrNoCommunicator = errors.New(`no communicator: the source sets communicator = "none"`)

// noComm stands in for a missing communicator, so that a provisioner that
// needs one fails with ErrNoCommunicator instead of a nil dereference.
type noComm struct{}

func (noComm) Run(context.Context, *communicator.Cmd) error { return ErrNoCommunicator }

func (noComm) Upload(context.Context, string, io.Reader, int64, fs.FileMode) error {
	return ErrNoCommunicator
}

func (noComm) Download(context.Context, string, io.Writer) error { return ErrNoCommunicator }

package step

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kilnhq/kiln/event"
)

// DefaultCleanupTimeout bounds the whole undo phase when Runner.CleanupTimeout
// is zero.
const DefaultCleanupTimeout = 10 * time.Minute

// Step is one stage of a build. Run does the work on the typed state s and
// registers, through u, the undo of every resource it creates as soon as it
// exists, so that a step failing halfway still has its first resources
// removed.
type Step[S any] struct {
	Name string
	Run  func(ctx context.Context, s *S, u *Undo) error
}

// Undo collects the undo functions of a run. A step receives it to register
// what it creates.
// Its methods are safe for concurrent use, so a step may create resources in
// parallel.
type Undo struct {
	mu      sync.Mutex
	step    string
	entries []entry
}

type entry struct {
	step      string
	what      string
	fn        func(ctx context.Context) error
	onFailure bool
}

// Push registers fn to remove the resource described by what ("instance
// i-0abc"). It runs when the run ends, newest first: after a failure, and
// after success too, since temporary resources never outlive a build.
func (u *Undo) Push(what string, fn func(ctx context.Context) error) {
	u.push(what, fn, false)
}

// PushOnFailure registers fn like Push, but fn runs only when the run fails:
// for a resource that is the build's result (an image) and must be removed
// only if the build does not finish.
func (u *Undo) PushOnFailure(what string, fn func(ctx context.Context) error) {
	u.push(what, fn, true)
}

func (u *Undo) push(what string, fn func(ctx context.Context) error, onFailure bool) {
	if fn == nil {
		panic("step: nil undo for " + what)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.entries = append(u.entries, entry{step: u.step, what: what, fn: fn, onFailure: onFailure})
}

func (u *Undo) setStep(name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.step = name
}

func (u *Undo) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.entries)
}

// take removes and returns the entries from index from on.
func (u *Undo) take(from int) []entry {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := slices.Clone(u.entries[from:])
	u.entries = u.entries[:from]
	return out
}

// Runner holds how steps are run. The zero value cleans up on failure, asks
// nobody and drops events.
type Runner struct {
	Events event.Sink
	// Policy says what happens after a step fails; "" means Cleanup.
	// RunCleanupProvisioner behaves as Abort here: the engine, not the
	// runner, runs the cleanup provisioner.
	Policy Policy
	// Ask is consulted under the Ask policy; without it Ask means Cleanup.
	Ask Asker
	// CleanupTimeout bounds the undo phase; zero means DefaultCleanupTimeout.
	CleanupTimeout time.Duration
	// Stop, when closed, stops cleanup: the undo functions still to run are
	// reported as left behind, and the one running sees its context
	// cancelled with ErrCleanupStopped as the cause. The CLI closes it on a
	// second interrupt. Nil never stops.
	Stop <-chan struct{}
}

// Run runs steps in order on s. When a step fails or ctx is cancelled, the
// remaining steps are skipped and the Policy decides about undo; after
// success every undo registered with Push runs. Undo runs under a context
// from CleanupContext, so it still works after ctx was cancelled, and every
// resource that was not removed is reported as an event.LeftBehind.
//
// Run returns the failed step's error (or ctx's error when cancelled between
// steps). Errors of undo functions are reported only as events: after a
// successful build the result stands even if a temporary resource could not
// be removed.
func Run[S any](ctx context.Context, r Runner, s *S, steps ...Step[S]) error {
	if r.Events == nil {
		r.Events = event.Discard
	}
	u := &Undo{}
	defer func() {
		// A panicking step must not leak what was already created.
		if p := recover(); p != nil {
			r.undo(ctx, u.take(0), true)
			panic(p)
		}
	}()
	for i := 0; i < len(steps); i++ {
		st := steps[i]
		mark := u.len()
		var err error
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("cancelled before step %q: %w", st.Name, cerr)
		} else {
			u.setStep(st.Name)
			err = runStep(ctx, r, st, s, u)
		}
		if err == nil {
			continue
		}
		switch r.decide(ctx, st.Name, err) {
		case ChooseRetry:
			// Remove what the failed attempt created, then run it again.
			r.undo(ctx, u.take(mark), true)
			i--
			continue
		case ChooseAbort:
			r.leave(u.take(0))
		default:
			r.undo(ctx, u.take(0), true)
		}
		return err
	}
	r.undo(ctx, u.take(0), false)
	return nil
}

func runStep[S any](ctx context.Context, r Runner, st Step[S], s *S, u *Undo) error {
	r.Events.Emit(&event.StepStarted{Step: st.Name})
	start := time.Now()
	err := st.Run(ctx, s, u)
	fin := &event.StepFinished{Step: st.Name, Duration: time.Since(start)}
	if err != nil {
		fin.Error = err.Error()
	}
	r.Events.Emit(fin)
	return err
}

// decide returns what to do after step failed with err.
func (r Runner) decide(ctx context.Context, step string, err error) Choice {
	switch r.Policy {
	case Abort, RunCleanupProvisioner:
		return ChooseAbort
	case Ask:
		// A cancelled build is not asked about: the person already chose.
		if r.Ask == nil || ctx.Err() != nil {
			return ChooseCleanup
		}
		c, aerr := r.Ask.Ask(ctx, step, err)
		if aerr != nil {
			r.Events.Emit(&event.Message{Level: event.Warn, Text: fmt.Sprintf("ask what to do after step %q failed: %v; cleaning up", step, aerr)})
			return ChooseCleanup
		}
		return c
	}
	return ChooseCleanup
}

// leave reports every entry as left behind, newest first.
func (r Runner) leave(entries []entry) {
	for i := len(entries) - 1; i >= 0; i-- {
		r.Events.Emit(&event.LeftBehind{Step: entries[i].step, What: entries[i].what})
	}
}

// undo runs entries newest first under a cleanup context. Entries registered
// with PushOnFailure run only when failed is set. Once the cleanup context is
// done, the remaining entries are reported as left behind.
func (r Runner) undo(ctx context.Context, entries []entry, failed bool) {
	if len(entries) == 0 {
		return
	}
	timeout := r.CleanupTimeout
	if timeout <= 0 {
		timeout = DefaultCleanupTimeout
	}
	cctx, cancel := CleanupContext(ctx, r.Stop, timeout)
	defer cancel()
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.onFailure && !failed {
			continue
		}
		if cctx.Err() != nil {
			r.Events.Emit(&event.LeftBehind{Step: e.step, What: e.what})
			continue
		}
		r.Events.Emit(&event.UndoStarted{Step: e.step, What: e.what})
		start := time.Now()
		err := runUndo(cctx, e.fn)
		fin := &event.UndoFinished{Step: e.step, What: e.what, Duration: time.Since(start)}
		if err != nil {
			fin.Error = err.Error()
		}
		r.Events.Emit(fin)
		if err != nil {
			r.Events.Emit(&event.LeftBehind{Step: e.step, What: e.what})
		}
	}
}

// runUndo calls fn, turning a panic into an error so that one broken undo
// does not stop the others.
func runUndo(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("undo panicked: %v", p)
		}
	}()
	return fn(ctx)
}

// ErrCleanupStopped is the cause of a cleanup context cancelled through its
// stop channel.
var ErrCleanupStopped = errors.New("cleanup stopped")

// CleanupContext returns a context for removing resources: it keeps ctx's
// values but not its cancellation, ends after timeout, and is cancelled with
// ErrCleanupStopped as the cause when stop is closed (a nil stop never is).
// Run uses it for undo; builders use it for cleanup outside Run as well.
func CleanupContext(ctx context.Context, stop <-chan struct{}, timeout time.Duration) (context.Context, context.CancelFunc) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	if stop == nil {
		return cctx, cancel
	}
	cctx, cancelCause := context.WithCancelCause(cctx)
	done := make(chan struct{})
	go func() {
		select {
		case <-stop:
			cancelCause(ErrCleanupStopped)
		case <-done:
		}
	}()
	return cctx, func() {
		close(done)
		cancelCause(context.Canceled)
		cancel()
	}
}

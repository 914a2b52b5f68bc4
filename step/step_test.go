package step

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
)

// short returns each event rec saw as a short string: "start a",
// "finish a", "finish a: ERR", "undo a/x", "undone a/x", "undone a/x: ERR",
// "left a/x", "warning ...".
func short(rec *eventtest.Recorder) []string {
	var out []string
	for _, e := range rec.Events() {
		var s string
		switch e := e.(type) {
		case *event.StepStarted:
			s = "start " + e.Step
		case *event.StepFinished:
			s = "finish " + e.Step + errSuffix(e.Error)
			if e.Duration < 0 {
				s += " NEGATIVE DURATION"
			}
		case *event.UndoStarted:
			s = "undo " + e.Step + "/" + e.What
		case *event.UndoFinished:
			s = "undone " + e.Step + "/" + e.What + errSuffix(e.Error)
		case *event.LeftBehind:
			s = "left " + e.Step + "/" + e.What
		case *event.Message:
			s = string(e.Level) + " " + e.Text
		default:
			s = "unexpected " + e.Kind()
		}
		out = append(out, s)
	}
	return out
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func wantEvents(t *testing.T, rec *eventtest.Recorder, want ...string) {
	t.Helper()
	got := short(rec)
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got %s\nwant %s", strings.Join(got, " | "), strings.Join(want, " | "))
	}
}

// state is the typed state the test steps share.
type state struct {
	ran    []string
	undone []string
}

// creates returns a step that records that it ran and registers one undo
// per name in what.
func creates(name string, what ...string) Step[state] {
	return Step[state]{Name: name, Run: func(_ context.Context, s *state, u *Undo) error {
		s.ran = append(s.ran, name)
		for _, w := range what {
			u.Push(w, func(context.Context) error {
				s.undone = append(s.undone, w)
				return nil
			})
		}
		return nil
	}}
}

func TestRunSuccessUndoesTemporariesInReverse(t *testing.T) {
	rec := &eventtest.Recorder{}
	var s state
	image := Step[state]{Name: "image", Run: func(_ context.Context, s *state, u *Undo) error {
		s.ran = append(s.ran, "image")
		u.PushOnFailure("ami", func(context.Context) error {
			s.undone = append(s.undone, "ami")
			return nil
		})
		return nil
	}}
	err := Run(context.Background(), Runner{Events: rec}, &s,
		creates("key", "keypair"), creates("launch", "sg", "instance"), image)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := []string{"key", "launch", "image"}; !slices.Equal(s.ran, want) {
		t.Errorf("ran %v, want %v", s.ran, want)
	}
	if want := []string{"instance", "sg", "keypair"}; !slices.Equal(s.undone, want) {
		t.Errorf("undone %v, want %v (the artifact must survive a success)", s.undone, want)
	}
	wantEvents(t, rec,
		"start key", "finish key", "start launch", "finish launch", "start image", "finish image",
		"undo launch/instance", "undone launch/instance", "undo launch/sg", "undone launch/sg",
		"undo key/keypair", "undone key/keypair")
}

func TestRunFailureMidStepUndoesWhatTheStepCreated(t *testing.T) {
	rec := &eventtest.Recorder{}
	var s state
	boom := errors.New("quota exceeded")
	half := Step[state]{Name: "launch", Run: func(_ context.Context, s *state, u *Undo) error {
		u.Push("sg", func(context.Context) error { s.undone = append(s.undone, "sg"); return nil })
		return fmt.Errorf("run instance: %w", boom)
	}}
	image := Step[state]{Name: "image", Run: func(_ context.Context, s *state, u *Undo) error {
		u.PushOnFailure("ami", func(context.Context) error { s.undone = append(s.undone, "ami"); return nil })
		return errors.New("never reached")
	}}
	err := Run(context.Background(), Runner{Events: rec}, &s, creates("key", "keypair"), half, image, creates("never"))
	if !errors.Is(err, boom) {
		t.Fatalf("Run returned %v, want the step's error", err)
	}
	if want := []string{"key"}; !slices.Equal(s.ran, want) {
		t.Errorf("ran %v, want %v", s.ran, want)
	}
	if want := []string{"sg", "keypair"}; !slices.Equal(s.undone, want) {
		t.Errorf("undone %v, want %v", s.undone, want)
	}
	wantEvents(t, rec,
		"start key", "finish key", "start launch", "finish launch: run instance: quota exceeded",
		"undo launch/sg", "undone launch/sg", "undo key/keypair", "undone key/keypair")
}

func TestRunFailureUndoesOnFailureEntries(t *testing.T) {
	var s state
	image := Step[state]{Name: "image", Run: func(_ context.Context, s *state, u *Undo) error {
		u.PushOnFailure("ami", func(context.Context) error { s.undone = append(s.undone, "ami"); return nil })
		return nil
	}}
	fail := Step[state]{Name: "copy", Run: func(context.Context, *state, *Undo) error { return errors.New("copy failed") }}
	if err := Run(context.Background(), Runner{}, &s, creates("launch", "instance"), image, fail); err == nil {
		t.Fatal("Run succeeded, want the copy error")
	}
	if want := []string{"ami", "instance"}; !slices.Equal(s.undone, want) {
		t.Errorf("undone %v, want %v", s.undone, want)
	}
}

func TestRunCancelledUndoesUnderFreshContext(t *testing.T) {
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	defer cancel()
	rec := &eventtest.Recorder{}
	var s state
	var undoErr, undoVal any
	var deadline time.Time
	wait := Step[state]{Name: "wait", Run: func(ctx context.Context, s *state, u *Undo) error {
		u.Push("instance", func(ctx context.Context) error {
			undoErr, undoVal = ctx.Err(), ctx.Value(key{})
			deadline, _ = ctx.Deadline()
			return nil
		})
		cancel()
		<-ctx.Done()
		return fmt.Errorf("wait for ssh: %w", ctx.Err())
	}}
	err := Run(ctx, Runner{Events: rec, CleanupTimeout: time.Minute}, &s, wait, creates("never"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if undoErr != nil {
		t.Errorf("undo ran under a done context: %v", undoErr)
	}
	if undoVal != "v" {
		t.Errorf("undo context lost the build context's values: %v", undoVal)
	}
	if d := time.Until(deadline); d <= 0 || d > time.Minute {
		t.Errorf("undo deadline in %v, want within the cleanup timeout", d)
	}
	wantEvents(t, rec, "start wait", "finish wait: wait for ssh: context canceled", "undo wait/instance", "undone wait/instance")
}

func TestRunCancelledBetweenSteps(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var s state
	stop := Step[state]{Name: "stop", Run: func(context.Context, *state, *Undo) error { cancel(); return nil }}
	err := Run(ctx, Runner{}, &s, creates("a", "x"), stop, creates("b", "y"))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("Run returned %v, want cancellation naming step b", err)
	}
	if !slices.Equal(s.ran, []string{"a"}) || !slices.Equal(s.undone, []string{"x"}) {
		t.Errorf("ran %v undone %v", s.ran, s.undone)
	}
}

func TestRunCleanupDeadlineLeavesTheRest(t *testing.T) {
	rec := &eventtest.Recorder{}
	var s state
	steps := Step[state]{Name: "make", Run: func(_ context.Context, s *state, u *Undo) error {
		u.Push("volume", func(context.Context) error { s.undone = append(s.undone, "volume"); return nil })
		u.Push("instance", func(ctx context.Context) error {
			<-ctx.Done() // a terminate that never finishes
			return fmt.Errorf("terminate: %w", ctx.Err())
		})
		return errors.New("boom")
	}}
	err := Run(context.Background(), Runner{Events: rec, CleanupTimeout: 20 * time.Millisecond}, &s, creates("key", "keypair"), steps)
	if err == nil || err.Error() != "boom" {
		t.Fatalf("Run returned %v, want boom", err)
	}
	if len(s.undone) != 0 {
		t.Errorf("undos ran after the cleanup deadline: %v", s.undone)
	}
	wantEvents(t, rec,
		"start key", "finish key", "start make", "finish make: boom",
		"undo make/instance", "undone make/instance: terminate: context deadline exceeded", "left make/instance",
		"left make/volume", "left key/keypair")
}

func TestRunStopCleanup(t *testing.T) {
	rec := &eventtest.Recorder{}
	var s state
	stop := make(chan struct{})
	var cause error
	steps := Step[state]{Name: "make", Run: func(_ context.Context, s *state, u *Undo) error {
		u.Push("volume", func(context.Context) error { s.undone = append(s.undone, "volume"); return nil })
		u.Push("instance", func(ctx context.Context) error {
			close(stop) // the second Ctrl-C arrives while this undo waits
			<-ctx.Done()
			cause = context.Cause(ctx)
			return ctx.Err()
		})
		return nil
	}}
	if err := Run(context.Background(), Runner{Events: rec, Stop: stop}, &s, steps); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !errors.Is(cause, ErrCleanupStopped) {
		t.Errorf("cleanup context cause %v, want ErrCleanupStopped", cause)
	}
	wantEvents(t, rec, "start make", "finish make",
		"undo make/instance", "undone make/instance: context canceled", "left make/instance", "left make/volume")
}

func TestRunAbortListsWhatWasLeft(t *testing.T) {
	for _, p := range []Policy{Abort, RunCleanupProvisioner} {
		t.Run(string(p), func(t *testing.T) {
			rec := &eventtest.Recorder{}
			var s state
			fail := Step[state]{Name: "provision", Run: func(context.Context, *state, *Undo) error { return errors.New("exit status 2") }}
			err := Run(context.Background(), Runner{Events: rec, Policy: p}, &s, creates("key", "keypair"), creates("launch", "sg", "instance"), fail)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			if len(s.undone) != 0 {
				t.Errorf("abort ran undos: %v", s.undone)
			}
			wantEvents(t, rec, "start key", "finish key", "start launch", "finish launch", "start provision", "finish provision: exit status 2",
				"left launch/instance", "left launch/sg", "left key/keypair")
		})
	}
}

type fakeAsker struct {
	answers []Choice
	err     error
	asked   []string
}

func (a *fakeAsker) Ask(_ context.Context, step string, err error) (Choice, error) {
	a.asked = append(a.asked, step+": "+err.Error())
	if a.err != nil {
		return 0, a.err
	}
	c := a.answers[0]
	a.answers = a.answers[1:]
	return c, nil
}

func TestRunAskRetryUndoesTheFailedAttempt(t *testing.T) {
	rec := &eventtest.Recorder{}
	var s state
	attempts := 0
	flaky := Step[state]{Name: "launch", Run: func(_ context.Context, s *state, u *Undo) error {
		attempts++
		n := attempts
		u.Push(fmt.Sprintf("instance-%d", n), func(context.Context) error {
			s.undone = append(s.undone, fmt.Sprintf("instance-%d", n))
			return nil
		})
		if n == 1 {
			return errors.New("insufficient capacity")
		}
		return nil
	}}
	asker := &fakeAsker{answers: []Choice{ChooseRetry}}
	err := Run(context.Background(), Runner{Events: rec, Policy: Ask, Ask: asker}, &s, creates("key", "keypair"), flaky)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := []string{"launch: insufficient capacity"}; !slices.Equal(asker.asked, want) {
		t.Errorf("asked %v, want %v", asker.asked, want)
	}
	wantEvents(t, rec, "start key", "finish key", "start launch", "finish launch: insufficient capacity",
		"undo launch/instance-1", "undone launch/instance-1", "start launch", "finish launch",
		"undo launch/instance-2", "undone launch/instance-2", "undo key/keypair", "undone key/keypair")
}

func TestRunAskAnswers(t *testing.T) {
	fail := Step[state]{Name: "provision", Run: func(context.Context, *state, *Undo) error { return errors.New("bad") }}
	cases := []struct {
		name  string
		asker Asker
		want  []string // undone
		warn  bool
	}{
		{"cleanup", &fakeAsker{answers: []Choice{ChooseCleanup}}, []string{"x"}, false},
		{"abort", &fakeAsker{answers: []Choice{ChooseAbort}}, nil, false},
		{"no asker", nil, []string{"x"}, false},
		{"asker fails", &fakeAsker{err: errors.New("no terminal")}, []string{"x"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &eventtest.Recorder{}
			var s state
			err := Run(context.Background(), Runner{Events: rec, Policy: Ask, Ask: c.asker}, &s, creates("a", "x"), fail)
			if err == nil || err.Error() != "bad" {
				t.Fatalf("Run returned %v", err)
			}
			if !slices.Equal(s.undone, c.want) {
				t.Errorf("undone %v, want %v", s.undone, c.want)
			}
			warned := slices.ContainsFunc(short(rec), func(s string) bool { return strings.HasPrefix(s, "warning ") })
			if warned != c.warn {
				t.Errorf("warning emitted = %v, want %v: %v", warned, c.warn, short(rec))
			}
		})
	}
}

func TestRunAskNotAskedWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var s state
	asker := &fakeAsker{answers: []Choice{ChooseAbort}}
	fail := Step[state]{Name: "wait", Run: func(ctx context.Context, _ *state, _ *Undo) error { cancel(); return ctx.Err() }}
	if err := Run(ctx, Runner{Policy: Ask, Ask: asker}, &s, creates("a", "x"), fail); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if len(asker.asked) != 0 || !slices.Equal(s.undone, []string{"x"}) {
		t.Errorf("asked %v, undone %v; want no question and cleanup", asker.asked, s.undone)
	}
}

func TestRunPanicStillUndoes(t *testing.T) {
	var s state
	bad := Step[state]{Name: "bad", Run: func(context.Context, *state, *Undo) error { panic("bug") }}
	defer func() {
		if p := recover(); p != "bug" {
			t.Errorf("recovered %v, want the step's panic", p)
		}
		if !slices.Equal(s.undone, []string{"x"}) {
			t.Errorf("undone %v after a panic, want [x]", s.undone)
		}
	}()
	_ = Run(context.Background(), Runner{}, &s, creates("a", "x"), bad)
	t.Error("Run returned, want a panic")
}

func TestRunUndoErrorsDoNotStopOtherUndos(t *testing.T) {
	rec := &eventtest.Recorder{}
	var s state
	st := Step[state]{Name: "make", Run: func(_ context.Context, s *state, u *Undo) error {
		u.Push("volume", func(context.Context) error { s.undone = append(s.undone, "volume"); return nil })
		u.Push("sg", func(context.Context) error { return errors.New("DependencyViolation") })
		u.Push("instance", func(context.Context) error { panic("nil client") })
		return nil
	}}
	if err := Run(context.Background(), Runner{Events: rec}, &s, st); err != nil {
		t.Fatalf("Run: %v (undo errors must not fail a successful run)", err)
	}
	wantEvents(t, rec, "start make", "finish make",
		"undo make/instance", "undone make/instance: undo panicked: nil client", "left make/instance",
		"undo make/sg", "undone make/sg: DependencyViolation", "left make/sg",
		"undo make/volume", "undone make/volume")
}

func TestUndoConcurrentPush(t *testing.T) {
	var mu sync.Mutex
	n := 0
	st := Step[state]{Name: "copy", Run: func(_ context.Context, _ *state, u *Undo) error {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				u.Push(fmt.Sprint("copy-", i), func(context.Context) error { mu.Lock(); n++; mu.Unlock(); return nil })
			})
		}
		wg.Wait()
		return nil
	}}
	var s state
	if err := Run(context.Background(), Runner{}, &s, st); err != nil {
		t.Fatal(err)
	}
	if n != 50 {
		t.Errorf("%d undos ran, want 50", n)
	}
}

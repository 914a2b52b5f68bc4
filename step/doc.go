// Package step runs a builder as a list of steps with typed state. Each step
// registers the undo of what it created (Undo.Push) as soon as it exists, so
// a step that fails halfway still has its first resources removed. Undo runs
// newest first when the run ends, after success too, since temporary
// resources never outlive a build; a resource that is the build's result (an
// image) is registered with Undo.PushOnFailure and removed only on failure.
//
// Undo runs under a fresh context (CleanupContext) with its own deadline,
// also after the build's context was cancelled, and emits UndoStarted and
// UndoFinished events; whatever is not removed is reported as LeftBehind.
// Runner.Stop lets a caller (the CLI, on a second interrupt) stop cleanup.
// The on-error Policy decides whether undo runs after a failure, is skipped
// (abort), or is asked about (ask: clean up, abort, or retry the step).
//
// It is part of the builder contract: kiln's own builders run their steps
// with it exactly as a builder written outside this module does, getting the
// runner from builder.Env.Runner so that the build's on-error policy, asker
// and cleanup stop apply. It depends only on package event.
package step

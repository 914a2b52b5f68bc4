package step

import "context"

// Policy says what happens when a step fails (kiln build -on-error).
type Policy string

// The on-error policies, spelled as Packer spells them.
const (
	// Cleanup undoes every registered step, newest first. The default.
	Cleanup Policy = "cleanup"
	// Abort leaves everything as it is and reports what was left and where.
	Abort Policy = "abort"
	// Ask asks the Asker whether to clean up, abort or retry the failed step.
	Ask Policy = "ask"
	// RunCleanupProvisioner runs the build's error-cleanup-provisioner, then
	// aborts.
	RunCleanupProvisioner Policy = "run-cleanup-provisioner"
)

// Choice is an answer to an Asker.
type Choice int

// The answers an Asker can give.
const (
	ChooseCleanup Choice = iota
	ChooseAbort
	ChooseRetry
)

// Asker asks a person what to do after step failed with err. The CLI
// implements it on a terminal.
type Asker interface {
	Ask(ctx context.Context, step string, err error) (Choice, error)
}

package communicator

// ProgressReporter is implemented by communicators that emit event.Progress
// for their own transfers. A caller that would otherwise count the bytes it
// hands over (the file provisioner) does not when ReportsProgress returns
// true, so one transfer is not reported twice.
type ProgressReporter interface {
	ReportsProgress() bool
}

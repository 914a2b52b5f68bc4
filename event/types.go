package event

import "time"

// RunStarted is the first event of a kiln build run.
type RunStarted struct {
	Meta
	RunID  string   `json:"run_id"`
	Builds []string `json:"builds"`
}

// RunFinished is the last event of a run.
type RunFinished struct {
	Meta
	Duration time.Duration `json:"duration_ns"`
	Failed   []string      `json:"failed,omitempty"`
}

// BuildStarted is emitted when one build (build block × source) starts.
type BuildStarted struct {
	Meta
	BuilderType string `json:"builder_type"`
}

// BuildFinished is emitted when a build ends, successfully or not.
type BuildFinished struct {
	Meta
	Duration time.Duration `json:"duration_ns"`
	// Error is empty on success.
	Error string `json:"error,omitempty"`
	// Cancelled reports that the build ended because its context was cancelled.
	Cancelled bool `json:"cancelled,omitempty"`
}

// StepStarted is emitted when a builder step starts.
type StepStarted struct {
	Meta
	Step string `json:"step"`
}

// StepFinished is emitted when a builder step ends.
type StepFinished struct {
	Meta
	Step     string        `json:"step"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`
}

// UndoStarted is emitted when the undo a step registered starts: a temporary
// resource is being removed.
type UndoStarted struct {
	Meta
	Step string `json:"step"`
	// What describes the resource being removed ("instance i-0abc").
	What string `json:"what"`
}

// UndoFinished is emitted when an undo ends.
type UndoFinished struct {
	Meta
	Step     string        `json:"step"`
	What     string        `json:"what"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`
}

// LeftBehind is emitted for each temporary resource that was not removed:
// because the on-error policy said abort, or because cleanup was itself
// interrupted or failed. It says what and where, so a person can remove it.
type LeftBehind struct {
	Meta
	Step string `json:"step"`
	What string `json:"what"`
}

// Output is one line of output from a remote or local command.
type Output struct {
	Meta
	// Source names who produced the line: `provisioner "shell" (web.pkr.hcl:23)`.
	Source string `json:"source"`
	// Stream is "stdout" or "stderr".
	Stream string `json:"stream"`
	Line   string `json:"line"`
}

// Progress reports progress of a long task: an upload, a download, a wait.
// Total is -1 when unknown. Done == Total marks the end.
type Progress struct {
	Meta
	Task  string `json:"task"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
	// Unit is "bytes" for transfers, "" for counts.
	Unit string `json:"unit,omitempty"`
}

// ArtifactCreated is emitted when a build (or a post-processor) produces an artifact.
type ArtifactCreated struct {
	Meta
	BuilderType string   `json:"builder_type"`
	ID          string   `json:"id"`
	Files       []string `json:"files,omitempty"`
	Description string   `json:"description"`
}

// Level is the severity of a Message.
type Level string

// The levels of a Message.
const (
	Info  Level = "info"
	Warn  Level = "warning"
	Error Level = "error"
)

// Message is a free-form note from any component.
type Message struct {
	Meta
	Level Level  `json:"level"`
	Text  string `json:"text"`
}

// Kind implementations: stable names used in the JSON stream.

func (*RunStarted) Kind() string      { return "run.started" }
func (*RunFinished) Kind() string     { return "run.finished" }
func (*BuildStarted) Kind() string    { return "build.started" }
func (*BuildFinished) Kind() string   { return "build.finished" }
func (*StepStarted) Kind() string     { return "step.started" }
func (*StepFinished) Kind() string    { return "step.finished" }
func (*UndoStarted) Kind() string     { return "undo.started" }
func (*UndoFinished) Kind() string    { return "undo.finished" }
func (*LeftBehind) Kind() string      { return "left-behind" }
func (*Output) Kind() string          { return "output" }
func (*Progress) Kind() string        { return "progress" }
func (*ArtifactCreated) Kind() string { return "artifact" }
func (*Message) Kind() string         { return "message" }

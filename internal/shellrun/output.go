package shellrun

import (
	"bytes"
	"sync"

	"github.com/kilnhq/kiln/event"
)

// maxLine is the longest line kept whole; a longer one is emitted in pieces,
// so output without newlines cannot grow memory without bound.
const maxLine = 64 << 10

// LineWriter is an io.Writer that emits every complete line written to it as
// an event.Output. Call Flush when the command has ended to emit a last line
// without a newline. It is safe for concurrent use.
type LineWriter struct {
	sink           event.Sink
	source, stream string

	mu  sync.Mutex
	buf []byte
}

// NewLineWriter returns a LineWriter that emits lines of stream ("stdout" or
// "stderr") from source to sink.
func NewLineWriter(sink event.Sink, source, stream string) *LineWriter {
	return &LineWriter{sink: sink, source: source, stream: stream}
}

// Write emits the complete lines in p and keeps the rest for later.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	rest := w.buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		w.emit(rest[:i])
		rest = rest[i+1:]
	}
	for len(rest) >= maxLine {
		w.emit(rest[:maxLine])
		rest = rest[maxLine:]
	}
	// Move the unfinished line to the front, reusing the array.
	w.buf = w.buf[:copy(w.buf, rest)]
	return len(p), nil
}

// Flush emits what is left of an unfinished line.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *LineWriter) emit(line []byte) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	w.sink.Emit(&event.Output{Source: w.source, Stream: w.stream, Line: string(line)})
}

package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/kilnhq/kiln/event"
)

// machineRenderer writes Packer's -machine-readable format, so that scripts
// written for Packer keep working: one line per record,
//
//	TIMESTAMP,TARGET,TYPE,DATA...
//
// with commas in data written as %!(PACKER_COMMA) and newlines as \n. The
// text a person would see comes as "ui,say" and "ui,message" records;
// artifacts as "BUILD,artifact,N,id,ID" records with Packer's keys, and a
// build's "artifact-count" and "error" when it ends.
type machineRenderer struct {
	mu        sync.Mutex
	w         io.Writer
	now       func() time.Time
	text      *textRenderer
	artifacts map[string]int
}

func newMachineRenderer(w io.Writer) *machineRenderer {
	m := &machineRenderer{w: w, now: time.Now, artifacts: map[string]int{}}
	m.text = newTextRenderer(uiWriter{m}, false, false, false, 0)
	return m
}

// Emit records e.
func (m *machineRenderer) Emit(e event.Event) {
	meta := e.EventMeta()
	switch e := e.(type) {
	case *event.ArtifactCreated:
		m.mu.Lock()
		i := m.artifacts[meta.Build]
		m.artifacts[meta.Build]++
		n := fmt.Sprint(i)
		m.record(meta.Build, "artifact", n, "builder-id", e.BuilderType)
		m.record(meta.Build, "artifact", n, "id", e.ID)
		m.record(meta.Build, "artifact", n, "string", e.Description)
		m.record(meta.Build, "artifact", n, "files-count", fmt.Sprint(len(e.Files)))
		for j, f := range e.Files {
			m.record(meta.Build, "artifact", n, "file", fmt.Sprint(j), f)
		}
		m.record(meta.Build, "artifact", n, "end")
		m.mu.Unlock()
	case *event.BuildFinished:
		m.mu.Lock()
		m.record(meta.Build, "artifact-count", fmt.Sprint(m.artifacts[meta.Build]))
		if e.Error != "" {
			m.record(meta.Build, "error", e.Error)
		}
		m.mu.Unlock()
	}
	m.text.Emit(e)
}

// notice records a run-wide message.
func (m *machineRenderer) notice(s string) { m.text.notice("", "%s", s) }

// record writes one line; m.mu is held.
func (m *machineRenderer) record(target, typ string, data ...string) {
	for i, d := range data {
		d = strings.ReplaceAll(d, ",", "%!(PACKER_COMMA)")
		d = strings.ReplaceAll(d, "\r", `\r`)
		data[i] = strings.ReplaceAll(d, "\n", `\n`)
	}
	fmt.Fprintf(m.w, "%d,%s,%s,%s\n", m.now().Unix(), target, typ, strings.Join(data, ","))
}

// uiWriter turns the text renderer's lines into ui records.
type uiWriter struct{ m *machineRenderer }

func (u uiWriter) Write(p []byte) (int, error) {
	u.m.mu.Lock()
	defer u.m.mu.Unlock()
	for l := range strings.SplitSeq(strings.TrimSuffix(string(p), "\n"), "\n") {
		kind := "message"
		if strings.HasPrefix(l, "==> ") {
			kind = "say"
		}
		u.m.record("", "ui", kind, l)
	}
	return len(p), nil
}

package qemu

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kinds of local resources a qemu build journals.
const (
	kindTempDir  = "temporary directory"
	kindStageDir = "staging directory"
	kindProcess  = "qemu process"
)

// Name prefixes of the directories a build makes; Clean removes nothing
// else.
const (
	tempPrefix  = "kiln-qemu-"
	stageMarker = ".kiln-" // staging: "." + output name + stageMarker + random
)

// resource is one local thing a build made and must remove: a directory by
// its path, or a qemu process by its identity.
type resource struct {
	Kind string   `json:"kind"`
	Path string   `json:"path,omitempty"`
	Proc *process `json:"process,omitempty"`
}

func (r resource) String() string {
	if r.Proc != nil {
		return fmt.Sprintf("%s %d", r.Kind, r.Proc.PID)
	}
	return r.Kind + " " + r.Path
}

// journalDoc is a journal file's contents. The file is replaced atomically
// at each change, so a reader sees one state or the next.
type journalDoc struct {
	Build string `json:"build"`
	Host  string `json:"host"`
	// Owner is the kiln process running the build.
	Owner     process    `json:"owner"`
	Created   time.Time  `json:"created"`
	Resources []resource `json:"resources"`
}

// journal records a build's local temporary resources in a file of their
// own, each written before the resource is made (a qemu process right after
// it starts, when its pid is known) and dropped once it is gone, so that
// Clean can remove what a killed build left. It is safe for concurrent use.
type journal struct {
	mu   sync.Mutex
	path string
	doc  journalDoc
}

// DefaultJournalDir returns where qemu builds keep their journals: the
// user's cache directory + kiln/journal/qemu.
func DefaultJournalDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the journal directory: %w", err)
	}
	return filepath.Join(d, "kiln", "journal", "qemu"), nil
}

// openJournal writes the empty journal of build in dir.
func openJournal(dir, build string) (*journal, error) {
	if build == "" || strings.ContainsAny(build, `/\`) || strings.HasPrefix(build, ".") {
		return nil, fmt.Errorf("open journal: invalid build ID %q", build)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	self, err := selfProcess()
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	host, _ := os.Hostname()
	j := &journal{
		// Another journal of the same build (a family test boot) may
		// still hold what it could not remove: never replace it.
		path: filepath.Join(dir, randomName(build+"-")+".json"),
		doc:  journalDoc{Build: build, Host: host, Owner: self, Created: time.Now().UTC(), Resources: []resource{}},
	}
	if err := j.save(); err != nil {
		return nil, err
	}
	return j, nil
}

// add records r, before it is made.
func (j *journal) add(r resource) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.doc.Resources = append(j.doc.Resources, r)
	return j.save()
}

// done forgets r: it was removed, or kept as the build's output.
func (j *journal) done(r resource) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := len(j.doc.Resources)
	j.doc.Resources = slices.DeleteFunc(j.doc.Resources, func(x resource) bool { return x.same(r) })
	if len(j.doc.Resources) == n {
		return nil
	}
	return j.save()
}

// close removes the journal when nothing is left in it; otherwise the file
// stays for Clean.
func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.doc.Resources) > 0 {
		return nil
	}
	if err := os.Remove(j.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

func (r resource) same(o resource) bool {
	if r.Kind != o.Kind || r.Path != o.Path || (r.Proc == nil) != (o.Proc == nil) {
		return false
	}
	return r.Proc == nil || *r.Proc == *o.Proc
}

// save writes the journal to a temporary file, syncs it and renames it into
// place; j.mu is held.
func (j *journal) save() error {
	data, err := json.MarshalIndent(&j.doc, "", "  ")
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	_, werr := f.Write(append(data, '\n'))
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if d, err := os.Open(filepath.Dir(j.path)); err == nil {
		d.Sync() // the rename survives a crash
		d.Close()
	}
	return nil
}

// readJournals reads every journal in dir (a missing dir holds none),
// returning those it could read and an error naming the others.
func readJournals(dir string) ([]*journalFile, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*journalFile
	var errs []error
	for _, n := range names {
		data, err := os.ReadFile(n)
		if errors.Is(err, fs.ErrNotExist) {
			continue // its build finished meanwhile
		}
		var doc journalDoc
		if err == nil {
			if err = json.Unmarshal(data, &doc); err == nil && doc.Build == "" {
				err = errors.New("no build ID")
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read journal %s: %w", n, err))
			continue
		}
		out = append(out, &journalFile{path: n, doc: doc})
	}
	return out, errors.Join(errs...)
}

// journalFile is a journal read back by Clean.
type journalFile struct {
	path string
	doc  journalDoc
}

// alive reports whether the kiln process that wrote the journal still runs.
// A journal written on another host counts as alive: its paths are not ours
// to judge.
func (f *journalFile) alive() bool {
	if host, _ := os.Hostname(); host != f.doc.Host {
		return true
	}
	return f.doc.Owner.running()
}

// newTempName returns dir/prefix followed by random hex: a name to journal
// before the directory is made.
func newTempName(dir, prefix string) string { return filepath.Join(dir, randomName(prefix)) }

func randomName(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b) // never fails
	return prefix + hex.EncodeToString(b)
}

// kilnDir reports whether path has the name a build gives a directory of
// kind, so Clean never removes a path a damaged journal names.
func kilnDir(kind, path string) bool {
	base := filepath.Base(path)
	switch kind {
	case kindTempDir:
		return filepath.IsAbs(path) && strings.HasPrefix(base, tempPrefix)
	case kindStageDir:
		return filepath.IsAbs(path) && strings.HasPrefix(base, ".") && strings.Contains(base, stageMarker)
	}
	return false
}

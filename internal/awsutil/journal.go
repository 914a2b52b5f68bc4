package awsutil

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Journal operations.
const (
	// OpIntent is written before a create call, with the client token or
	// name that the resource will carry: if the process dies during the
	// call, `kiln clean` looks the resource up by that token or name (and
	// the build's tag) in that region.
	OpIntent = "intent"
	// OpCreated is written as soon as the create call returned an ID,
	// before the ID is used. It settles the intent of the same token.
	OpCreated = "created"
	// OpRefused is written when EC2 answered the create call with an
	// error: nothing was made, and the intent of the same token is
	// settled.
	OpRefused = "refused"
	// OpDone is written when the resource was removed, or kept as the
	// build's result.
	OpDone = "done"
)

// Entry is one line of a journal file.
type Entry struct {
	Time   time.Time `json:"time"`
	Op     string    `json:"op"`
	Region string    `json:"region,omitempty"`
	// Kind is the resource type: "instance", "key-pair", "security-group",
	// "image", "snapshot", "volume", "fleet", "launch-template".
	Kind  string `json:"kind,omitempty"`
	ID    string `json:"id,omitempty"`
	Token string `json:"token,omitempty"`
}

// header is the first line of a journal file.
type header struct {
	Build string    `json:"build"`
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Start time.Time `json:"start"`
}

// Journal is the append-only record of one build's temporary resources: one
// JSON-lines file per build ID under a directory (DefaultJournalDir). Every
// line is synced to disk before the method returns. It is safe for
// concurrent use.
type Journal struct {
	mu      sync.Mutex
	f       *os.File
	path    string
	pending map[string]bool
	intents map[string]bool // intents not settled yet
}

// DefaultJournalDir returns the user's cache directory + kiln/journal.
func DefaultJournalDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the journal directory: %w", err)
	}
	return filepath.Join(d, "kiln", "journal"), nil
}

// OpenJournal creates the journal of build in dir.
func OpenJournal(dir, build string) (*Journal, error) {
	if build == "" || strings.ContainsAny(build, `/\`) {
		return nil, fmt.Errorf("open journal: invalid build ID %q", build)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	path := filepath.Join(dir, build+".jsonl")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &Journal{f: f, path: path, pending: map[string]bool{}, intents: map[string]bool{}}
	host, _ := os.Hostname()
	if err := j.write(header{Build: build, PID: os.Getpid(), Host: host, Start: time.Now().UTC()}); err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

// Path returns the journal file's path.
func (j *Journal) Path() string { return j.path }

// Intent records that a resource of kind is about to be created in region,
// identified until then by token (a client token or a name).
func (j *Journal) Intent(region, kind, token string) error {
	return j.add(Entry{Op: OpIntent, Region: region, Kind: kind, Token: token})
}

// Created records the ID of a resource that now exists, made by the call
// whose intent carried token ("" when none did).
func (j *Journal) Created(region, kind, token, id string) error {
	return j.add(Entry{Op: OpCreated, Region: region, Kind: kind, Token: token, ID: id})
}

// Refused records that EC2 refused the create call whose intent carried
// token: nothing was made.
func (j *Journal) Refused(region, kind, token string) error {
	return j.add(Entry{Op: OpRefused, Region: region, Kind: kind, Token: token})
}

// Done records that a resource was removed or kept as the build's result.
func (j *Journal) Done(region, kind, id string) error {
	return j.add(Entry{Op: OpDone, Region: region, Kind: kind, ID: id})
}

func (j *Journal) add(e Entry) error {
	e.Time = time.Now().UTC()
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.write(e); err != nil {
		return err
	}
	switch e.Op {
	case OpIntent:
		j.intents[intentKey(e)] = true
	case OpCreated:
		j.pending[entryKey(e)] = true
		delete(j.intents, intentKey(e))
	case OpRefused:
		delete(j.intents, intentKey(e))
	case OpDone:
		delete(j.pending, entryKey(e))
	}
	return nil
}

func (j *Journal) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	return nil
}

// Pending returns the number of resources created and not yet done.
func (j *Journal) Pending() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.pending)
}

// Close closes the journal and removes its file when nothing is pending and
// every intent is settled: a build that cleaned up after itself leaves no
// journal behind. A create call that never answered (it timed out) leaves
// its intent, for `kiln clean` to look up.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.f.Close()
	if err == nil && len(j.pending) == 0 && len(j.intents) == 0 {
		err = os.Remove(j.path)
	}
	return err
}

func entryKey(e Entry) string { return e.Region + "/" + e.Kind + "/" + e.ID }

func intentKey(e Entry) string { return e.Region + "/" + e.Kind + "/" + e.Token }

// JournalFile is a journal read back from disk.
type JournalFile struct {
	Path  string
	Build string
	PID   int
	Host  string
	Start time.Time
	// Regions lists every region the build touched (intents included).
	Regions []string
	// Pending lists the resources created and not done, oldest first.
	Pending []Entry
	// Intents lists the create calls that never answered (the process
	// died meanwhile), oldest first: each resource may or may not exist.
	Intents []Entry
}

// Alive reports whether the process that wrote the journal still runs (on
// this host; a journal from another host counts as alive).
func (f *JournalFile) Alive() bool {
	if host, _ := os.Hostname(); host != f.Host {
		return true
	}
	if f.PID == os.Getpid() {
		return true
	}
	err := syscall.Kill(f.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ReadJournals reads every journal in dir (a missing dir holds none). It
// returns the journals it could read along with an error naming those it
// could not.
func ReadJournals(dir string) ([]*JournalFile, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	var out []*JournalFile
	var errs []error
	for _, n := range names {
		jf, err := ReadJournal(n)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// removed by its build meanwhile
		case err != nil:
			errs = append(errs, err)
		default:
			out = append(out, jf)
		}
	}
	return out, errors.Join(errs...)
}

// ReadJournal reads one journal file. A truncated last line (the process died
// mid-write) is ignored.
func ReadJournal(path string) (*JournalFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	jf := &JournalFile{Path: path}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	regions := map[string]bool{}
	var order []string
	created := map[string]Entry{}
	var intentOrder []string
	intents := map[string]Entry{}
	first := true
	for sc.Scan() {
		if first {
			first = false
			var h header
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Build == "" {
				return nil, fmt.Errorf("read journal %s: bad header", path)
			}
			jf.Build, jf.PID, jf.Host, jf.Start = h.Build, h.PID, h.Host, h.Start
			continue
		}
		var e Entry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if e.Region != "" {
			regions[e.Region] = true
		}
		k := entryKey(e)
		switch e.Op {
		case OpIntent:
			intentOrder = append(intentOrder, intentKey(e))
			intents[intentKey(e)] = e
		case OpCreated:
			if _, ok := created[k]; !ok {
				order = append(order, k)
			}
			created[k] = e
			delete(intents, intentKey(e))
		case OpRefused:
			delete(intents, intentKey(e))
		case OpDone:
			delete(created, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	if first {
		return nil, fmt.Errorf("read journal %s: empty", path)
	}
	for _, k := range order {
		if e, ok := created[k]; ok {
			jf.Pending = append(jf.Pending, e)
			delete(created, k)
		}
	}
	for _, k := range intentOrder {
		if e, ok := intents[k]; ok {
			jf.Intents = append(jf.Intents, e)
			delete(intents, k)
		}
	}
	for r := range regions {
		jf.Regions = append(jf.Regions, r)
	}
	sort.Strings(jf.Regions)
	return jf, nil
}

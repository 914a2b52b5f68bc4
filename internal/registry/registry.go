package registry

import (
	"fmt"
	"sort"
	"sync"

	"github.com/agext/levenshtein"
)

// Registry maps type labels to factories of type F.
type Registry[F any] struct {
	kind string
	mu   sync.RWMutex
	m    map[string]F
}

// New returns an empty registry; kind names what it holds in errors
// ("builder", "provisioner", "post-processor").
func New[F any](kind string) *Registry[F] {
	return &Registry[F]{kind: kind, m: map[string]F{}}
}

// Register adds f under name. It panics if name is empty, f is nil or name is
// already taken: those are programming errors.
func (r *Registry[F]) Register(name string, f F) {
	if name == "" {
		panic("registry: " + r.kind + " registered with an empty name")
	}
	if any(f) == nil {
		panic("registry: nil " + r.kind + " factory for " + name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		panic("registry: " + r.kind + " " + name + " registered twice")
	}
	r.m[name] = f
}

// Lookup returns the factory for name.
func (r *Registry[F]) Lookup(name string) (F, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.m[name]
	return f, ok
}

// Names returns the registered names, sorted.
func (r *Registry[F]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Kind returns what the registry holds, as given to New.
func (r *Registry[F]) Kind() string { return r.kind }

// Suggest returns the registered name closest to name, or "" when none is
// close enough to be a likely typo.
func (r *Registry[F]) Suggest(name string) string {
	return Suggest(name, r.Names())
}

// UnknownError describes an unknown type label, with a suggestion.
func (r *Registry[F]) UnknownError(name string) string {
	msg := fmt.Sprintf("kiln has no %s named %q", r.kind, name)
	if s := r.Suggest(name); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else if names := r.Names(); len(names) > 0 {
		msg += fmt.Sprintf("; known: %v", names)
	}
	return msg
}

// Suggest returns the candidate closest to name by edit distance, or "" when
// none is within a distance of 3.
func Suggest(name string, candidates []string) string {
	best, bestDist := "", 4
	for _, c := range candidates {
		if d := levenshtein.Distance(name, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

package event

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
)

// Redacted replaces a sensitive value in events, as Packer writes it.
const Redacted = "<sensitive>"

// Redact returns a Sink that replaces every occurrence of each secret in the
// string fields of an event (also inside slices, maps and nested structs)
// with Redacted before passing a copy of the event to s. The event given to
// Emit is left as it is. A secret that spans several lines is also redacted
// line by line, since output arrives one line at a time. With no non-empty
// secret, Redact returns s itself.
func Redact(s Sink, secrets []string) Sink {
	r := newRedactor(secrets)
	if r == nil {
		return s
	}
	return SinkFunc(func(e Event) {
		s.Emit(r.event(e))
	})
}

// RedactString returns s with every secret replaced by Redacted, as Redact
// does for the strings of events.
func RedactString(s string, secrets []string) string {
	r := newRedactor(secrets)
	if r == nil {
		return s
	}
	return r.rep.Replace(s)
}

type redactor struct {
	rep *strings.Replacer
}

func newRedactor(secrets []string) *redactor {
	var all []string
	for _, sec := range secrets {
		all = append(all, sec)
		if strings.Contains(sec, "\n") {
			for line := range strings.SplitSeq(sec, "\n") {
				all = append(all, strings.TrimSpace(line))
			}
		}
	}
	all = slices.DeleteFunc(all, func(s string) bool { return s == "" })
	if len(all) == 0 {
		return nil
	}
	// The replacer tries patterns in argument order at each position: put
	// the longest first, so a secret containing another is hidden whole.
	slices.SortFunc(all, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	all = slices.Compact(all)
	pairs := make([]string, 0, 2*len(all))
	for _, sec := range all {
		pairs = append(pairs, sec, Redacted)
	}
	return &redactor{rep: strings.NewReplacer(pairs...)}
}

// event returns a redacted copy of e. Events that are not pointers to
// structs are passed on as they are.
func (r *redactor) event(e Event) Event {
	v := reflect.ValueOf(e)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return e
	}
	out := reflect.New(v.Elem().Type())
	out.Elem().Set(r.value(v.Elem()))
	if ev, ok := out.Interface().(Event); ok {
		return ev
	}
	return e
}

// value returns a redacted copy of v, sharing nothing mutable with it.
func (r *redactor) value(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		red := r.rep.Replace(s)
		if red == s {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.SetString(red)
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v) // unexported fields (time.Time's) are copied as they are
		for i := range v.NumField() {
			if f := out.Field(i); f.CanSet() {
				f.Set(r.value(v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(r.value(v.Index(i)))
		}
		return out
	case reflect.Array:
		out := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			out.Index(i).Set(r.value(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(r.value(it.Key()), r.value(it.Value()))
		}
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(r.value(v.Elem()))
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(r.value(v.Elem()))
		return out
	}
	return v
}

package event

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAllEventsListsEveryType keeps allEvents complete, so that the tests
// below cover every event type of the package.
func TestAllEventsListsEveryType(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || fd.Name.Name != "Kind" {
				continue
			}
			star := fd.Recv.List[0].Type.(*ast.StarExpr)
			declared = append(declared, star.X.(*ast.Ident).Name)
		}
	}
	var listed []string
	for _, e := range allEvents {
		listed = append(listed, reflect.TypeOf(e).Elem().Name())
	}
	slices.Sort(declared)
	slices.Sort(listed)
	if !slices.Equal(declared, listed) {
		t.Errorf("allEvents lists %v, the package declares %v", listed, declared)
	}
}

// fill sets every string in v to text (slices get two elements, maps one
// entry with text as key and value).
func fill(v reflect.Value, text string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				fill(f, text)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(s.Index(0), text)
		fill(s.Index(1), text)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, text)
		fill(e, text)
		m.SetMapIndex(k, e)
		v.Set(m)
	}
}

// marshal encodes e as JSON without escaping "<" and ">".
func marshal(e Event) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		panic(err)
	}
	return b.String()
}

func TestRedactEveryEventType(t *testing.T) {
	const secret = "hunter2"
	text := "password=" + secret + " and again " + secret
	for _, proto := range allEvents {
		t.Run(proto.Kind(), func(t *testing.T) {
			orig := reflect.New(reflect.TypeOf(proto).Elem())
			fill(orig.Elem(), text)
			e := orig.Interface().(Event)
			e.EventMeta().Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			before := marshal(e)
			if !strings.Contains(before, secret) {
				t.Fatalf("test setup: no secret in %s", before)
			}

			var got Event
			Redact(SinkFunc(func(e Event) { got = e }), []string{"", secret}).Emit(e)

			out := marshal(got)
			if strings.Contains(out, secret) {
				t.Errorf("secret left in %s", out)
			}
			if !strings.Contains(out, "password="+Redacted+" and again "+Redacted) {
				t.Errorf("string fields not redacted in place: %s", out)
			}
			if got.Kind() != e.Kind() || !got.EventMeta().Time.Equal(e.EventMeta().Time) {
				t.Errorf("redacted event lost its kind or time: %s", out)
			}
			after := marshal(e)
			if after != before {
				t.Errorf("Redact changed the emitted event:\n%s\n%s", before, after)
			}
		})
	}
}

func TestRedactLongestSecretFirst(t *testing.T) {
	var got *Output
	s := Redact(SinkFunc(func(e Event) { got = e.(*Output) }), []string{"abc", "abcdef"})
	s.Emit(&Output{Line: "xabcdefx abc"})
	if want := "x" + Redacted + "x " + Redacted; got.Line != want {
		t.Errorf("line %q, want %q", got.Line, want)
	}
}

func TestRedactMultilineSecretLineByLine(t *testing.T) {
	key := "-----BEGIN KEY-----\nAAAAsecretline\n-----END KEY-----\n"
	var lines []string
	s := Redact(SinkFunc(func(e Event) { lines = append(lines, e.(*Output).Line) }), []string{key})
	for l := range strings.SplitSeq(key, "\n") {
		s.Emit(&Output{Line: "  " + l})
	}
	for _, l := range lines {
		if strings.Contains(l, "secretline") {
			t.Errorf("line of a multi-line secret not redacted: %q", l)
		}
	}
}

func TestRedactNoSecretsIsNoOp(t *testing.T) {
	var calls int
	base := SinkFunc(func(Event) { calls++ })
	e := &Output{Line: "hello"}
	for _, secrets := range [][]string{nil, {}, {""}} {
		var got Event
		Redact(SinkFunc(func(ev Event) { got = ev }), secrets).Emit(e)
		if got != e {
			t.Errorf("secrets %q: event was copied or changed", secrets)
		}
	}
	Redact(base, nil).Emit(e)
	if calls != 1 {
		t.Errorf("sink called %d times, want 1", calls)
	}
}

func TestRedactString(t *testing.T) {
	if got := RedactString("user admin pass hunter2!", []string{"hunter2", ""}); got != "user admin pass "+Redacted+"!" {
		t.Errorf("got %q", got)
	}
	if got := RedactString("nothing", nil); got != "nothing" {
		t.Errorf("got %q", got)
	}
}

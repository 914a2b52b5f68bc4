package event

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzRedact redacts arbitrary secrets from every event type filled with
// arbitrary text: Redact must not panic, must leave the emitted event as it
// was, and must leave no occurrence of a secret that shares no character
// with Redacted (a secret that does could be formed anew by a replacement
// next to other text).
func FuzzRedact(f *testing.F) {
	f.Add("password=hunter2 and hunter2", "hunter2", "")
	f.Add("-----BEGIN KEY-----\nAAAA\n-----END KEY-----", "-----BEGIN KEY-----\nAAAA\n-----END KEY-----", "KEY")
	f.Add("abcabc", "abc", "bca")
	f.Add("sensitive <sensitive>", "sensitive", "<")
	f.Add("\xff\xfe", "\xff", "  \n ")
	f.Fuzz(func(t *testing.T, text, secret1, secret2 string) {
		secrets := []string{secret1, secret2}
		for _, proto := range allEvents {
			orig := reflect.New(reflect.TypeOf(proto).Elem())
			fill(orig.Elem(), text)
			e := orig.Interface().(Event)
			before := marshal(e)
			var got Event
			Redact(SinkFunc(func(e Event) { got = e }), secrets).Emit(e)
			if got == nil || got.Kind() != e.Kind() {
				t.Fatalf("%s: redacted event is %#v", e.Kind(), got)
			}
			if after := marshal(e); after != before {
				t.Fatalf("%s: Redact changed the emitted event:\n%s\n%s", e.Kind(), before, after)
			}
			var out []string
			collectStrings(reflect.ValueOf(got).Elem(), &out)
			for _, sec := range secrets {
				if sec == "" || strings.ContainsAny(sec, Redacted) {
					continue
				}
				for _, s := range out {
					if strings.Contains(s, sec) {
						t.Fatalf("%s: secret %q left in %q", e.Kind(), sec, s)
					}
				}
			}
		}
	})
}

// collectStrings appends every string inside v (fields, slice elements, map
// keys and values) to out.
func collectStrings(v reflect.Value, out *[]string) {
	switch v.Kind() {
	case reflect.String:
		*out = append(*out, v.String())
	case reflect.Struct:
		for i := range v.NumField() {
			collectStrings(v.Field(i), out)
		}
	case reflect.Slice:
		for i := range v.Len() {
			collectStrings(v.Index(i), out)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			collectStrings(it.Key(), out)
			collectStrings(it.Value(), out)
		}
	}
}

// FuzzMarshalJSON encodes every event type filled with arbitrary text and
// numbers: MarshalJSON must give one valid JSON object that starts with the
// event's kind and decodes back to the event (strings that are not UTF-8 come
// back with replacement characters, as encoding/json writes them).
func FuzzMarshalJSON(f *testing.F) {
	f.Add("hello", int64(0), int64(1))
	f.Add("a \"quoted\" line\n\t<tag> & \u2028", int64(-1), int64(-1))
	f.Add("\xff\x00", int64(1)<<62, int64(-1)<<63)
	f.Add("", int64(12345), int64(0))
	f.Fuzz(func(t *testing.T, text string, n, unix int64) {
		for _, proto := range allEvents {
			orig := reflect.New(reflect.TypeOf(proto).Elem())
			fill(orig.Elem(), text)
			fillInts(orig.Elem(), n)
			e := orig.Interface().(Event)
			// encoding/json refuses years outside 0..9999: keep the time
			// between 1970 and 9999.
			const end = 253402300800 // 10000-01-01 in Unix seconds
			e.EventMeta().Time = time.Unix((unix%end+end)%end, 0).UTC()
			b, err := MarshalJSON(e)
			if err != nil {
				t.Fatalf("%s: %v", e.Kind(), err)
			}
			if !json.Valid(b) {
				t.Fatalf("%s: invalid JSON %s", e.Kind(), b)
			}
			if want := `{"type":` + string(mustJSON(t, e.Kind())); !bytes.HasPrefix(b, []byte(want)) {
				t.Fatalf("%s: %s does not start with %s", e.Kind(), b, want)
			}
			var fields map[string]any
			if err := json.Unmarshal(b, &fields); err != nil {
				t.Fatalf("%s: %v", e.Kind(), err)
			}
			if fields["type"] != e.Kind() {
				t.Fatalf("%s: type %v", e.Kind(), fields["type"])
			}
			back := reflect.New(reflect.TypeOf(proto).Elem())
			if err := json.Unmarshal(b, back.Interface()); err != nil {
				t.Fatalf("%s: decode %s: %v", e.Kind(), b, err)
			}
			if utf8.ValidString(text) && !reflect.DeepEqual(normalTime(back.Interface().(Event)), normalTime(e)) {
				t.Fatalf("%s: %s decodes to %#v, want %#v", e.Kind(), b, back.Interface(), e)
			}
		}
	})
}

// fillInts sets every integer field of v to n.
func fillInts(v reflect.Value, n int64) {
	switch v.Kind() {
	case reflect.Int64:
		v.SetInt(n)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				fillInts(f, n)
			}
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// normalTime drops the monotonic reading and location of e's time, which
// JSON does not carry, so that events compare by value.
func normalTime(e Event) Event {
	m := e.EventMeta()
	m.Time = m.Time.UTC().Round(0)
	return e
}

package event

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestMarshalJSON(t *testing.T) {
	at := time.Date(2026, 11, 26, 6, 0, 0, 123456789, time.UTC)
	tests := []struct {
		e    Event
		want string
	}{
		{
			&StepFinished{Meta: Meta{Time: at, Build: "web.null.a"}, Step: "connect", Duration: 1200 * time.Microsecond},
			`{"type":"step.finished","time":"2026-11-26T06:00:00.123456789Z","build":"web.null.a","step":"connect","duration_ns":1200000}`,
		},
		{
			&RunStarted{Meta: Meta{Time: at}, RunID: "r1", Builds: []string{"a", "b"}},
			`{"type":"run.started","time":"2026-11-26T06:00:00.123456789Z","run_id":"r1","builds":["a","b"]}`,
		},
		{
			&Output{Meta: Meta{Time: at, Build: "b"}, Source: `provisioner "shell" (x.pkr.hcl:3)`, Stream: "stderr", Line: "a \"quoted\" line"},
			`{"type":"output","time":"2026-11-26T06:00:00.123456789Z","build":"b","source":"provisioner \"shell\" (x.pkr.hcl:3)","stream":"stderr","line":"a \"quoted\" line"}`,
		},
		{
			&BuildFinished{Meta: Meta{Time: at, Build: "b"}, Duration: time.Second, Error: "boom", Cancelled: true},
			`{"type":"build.finished","time":"2026-11-26T06:00:00.123456789Z","build":"b","duration_ns":1000000000,"error":"boom","cancelled":true}`,
		},
	}
	for _, tt := range tests {
		got, err := MarshalJSON(tt.e)
		if err != nil {
			t.Fatalf("MarshalJSON(%T): %v", tt.e, err)
		}
		if string(got) != tt.want {
			t.Errorf("MarshalJSON(%T)\n got %s\nwant %s", tt.e, got, tt.want)
		}
	}
}

func TestMarshalJSONNil(t *testing.T) {
	if _, err := MarshalJSON(nil); err == nil {
		t.Fatal("MarshalJSON(nil) succeeded")
	}
}

// TestMarshalJSONFieldsDocumented checks that every field of every event is
// named in MarshalJSON's doc table, and that no event's own field is called
// "type", which would clash with the kind.
func TestMarshalJSONFieldsDocumented(t *testing.T) {
	documented := map[string]bool{"type": true, "time": true, "build": true, "run_id": true, "builds": true,
		"failed": true, "builder_type": true, "step": true, "what": true, "duration_ns": true, "error": true,
		"cancelled": true, "source": true, "stream": true, "line": true, "task": true, "done": true, "total": true,
		"unit": true, "id": true, "files": true, "description": true, "level": true, "text": true}
	for _, proto := range allEvents {
		e := reflect.New(reflect.TypeOf(proto).Elem()).Interface().(Event)
		fillFields(reflect.ValueOf(e).Elem())
		b, err := MarshalJSON(e)
		if err != nil {
			t.Fatalf("MarshalJSON(%T): %v", e, err)
		}
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			t.Fatalf("%T: output is not JSON: %v\n%s", e, err, b)
		}
		if obj["type"] != e.Kind() {
			t.Errorf("%T: type = %v, want %s", e, obj["type"], e.Kind())
		}
		if !strings.HasPrefix(string(b), `{"type":`) {
			t.Errorf("%T: type is not the first field: %s", e, b)
		}
		var keys []string
		for k := range obj {
			if !documented[k] {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		if len(keys) > 0 {
			t.Errorf("%T has undocumented fields %v", e, keys)
		}
		for i := range reflect.TypeOf(e).Elem().NumField() {
			if tag := reflect.TypeOf(e).Elem().Field(i).Tag.Get("json"); strings.Split(tag, ",")[0] == "type" {
				t.Errorf("%T has a field named type", e)
			}
		}
	}
}

// fillFields sets every field of the struct v to a non-zero value, so that no
// omitempty field is left out of the encoding.
func fillFields(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Struct:
			if f.Type() == reflect.TypeFor[time.Time]() {
				f.Set(reflect.ValueOf(time.Unix(1, 0)))
			} else {
				fillFields(f)
			}
		case reflect.String:
			f.SetString("x")
		case reflect.Int, reflect.Int64:
			f.SetInt(1)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
			if f.Index(0).Kind() == reflect.String {
				f.Index(0).SetString("x")
			}
		}
	}
}

package shellrun

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
)

func TestLineWriter(t *testing.T) {
	rec := &eventtest.Recorder{}
	got := func() string {
		var out []string
		for _, o := range eventtest.Of[*event.Output](rec) {
			out = append(out, o.Stream+":"+o.Line)
		}
		return strings.Join(out, "|")
	}
	w := NewLineWriter(rec, "src", "stdout")
	w.Write([]byte("one\r\ntw"))
	w.Write([]byte("o\n\nthree"))
	if got() != "stdout:one|stdout:two|stdout:" {
		t.Errorf("before flush: %q", got())
	}
	w.Flush()
	w.Flush()
	if got() != "stdout:one|stdout:two|stdout:|stdout:three" {
		t.Errorf("after flush: %q", got())
	}
	rec = &eventtest.Recorder{}
	w = NewLineWriter(rec, "src", "stdout")
	w.Write([]byte(strings.Repeat("x", maxLine+10)))
	w.Flush()
	if lines := rec.Lines(); len(lines) != 2 || len(lines[0]) != maxLine || len(lines[1]) != 10 {
		t.Errorf("a long line is split at %d bytes: got %d pieces", maxLine, len(lines))
	}
}

// TestFlattenThroughSh checks the quoting with a real sh: every value comes
// back byte for byte.
func TestFlattenThroughSh(t *testing.T) {
	vars := map[string]string{
		"A": "plain",
		"B": `single ' double " back ` + "`id`" + ` dollar $HOME $(id) backslash \ \n`,
		"C": "new\nline\ttab",
		"D": "",
	}
	script := Flatten(vars, "") + `sh -c 'printf "%s\0" "$A" "$B" "$C" "$D"'`
	out, err := exec.Command("/bin/sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	for i, k := range []string{"A", "B", "C", "D"} {
		if got[i] != vars[k] {
			t.Errorf("%s = %q, want %q", k, got[i], vars[k])
		}
	}
	if q := Quote("it's"); q != `'it'"'"'s'` {
		t.Errorf("Quote = %s", q)
	}
}

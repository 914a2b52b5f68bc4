package shellrun

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/event"
)

func TestLineWriter(t *testing.T) {
	var got []string
	w := NewLineWriter(event.SinkFunc(func(e event.Event) {
		o := e.(*event.Output)
		got = append(got, o.Stream+":"+o.Line)
	}), "src", "stdout")
	w.Write([]byte("one\r\ntw"))
	w.Write([]byte("o\n\nthree"))
	if strings.Join(got, "|") != "stdout:one|stdout:two|stdout:" {
		t.Errorf("before flush: %q", got)
	}
	w.Flush()
	w.Flush()
	if strings.Join(got, "|") != "stdout:one|stdout:two|stdout:|stdout:three" {
		t.Errorf("after flush: %q", got)
	}
	got = nil
	w.Write([]byte(strings.Repeat("x", maxLine+10)))
	w.Flush()
	if len(got) != 2 || len(got[0]) != len("stdout:")+maxLine {
		t.Errorf("a long line is split at %d bytes: got %d pieces", maxLine, len(got))
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

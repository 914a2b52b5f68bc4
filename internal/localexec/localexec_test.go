package localexec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
)

// outputs returns "stream:line" for each output line rec saw.
func outputs(rec *eventtest.Recorder) []string {
	var out []string
	for _, o := range eventtest.Of[*event.Output](rec) {
		out = append(out, o.Stream+":"+o.Line)
	}
	return out
}

func decode(t *testing.T, src string, pp bool) (*Config, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return Decode(f.Body, nil, pp)
}

func mustDecode(t *testing.T, src string, pp bool) *Config {
	t.Helper()
	c, diags := decode(t, src, pp)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return c
}

func testEnv(events event.Sink) Env {
	return Env{Events: events, Source: "shell-local", Info: builder.Info{SourceName: "box", Type: "null"}, Data: map[string]string{"ID": "i-123"}}
}

func TestInlineEnv(t *testing.T) {
	c := mustDecode(t, `
inline = ["echo \"[$A] [$PACKER_BUILD_NAME] [$PACKER_BUILDER_TYPE] [$B]\"", "echo id={{ .ID }}", "echo oops >&2"]
environment_vars = ["A=it's a $VAR `+"`x`"+`"]
env = { B = "two  spaces" }
`, false)
	rec := &eventtest.Recorder{}
	if err := c.Run(context.Background(), testEnv(rec)); err != nil {
		t.Fatal(err)
	}
	// The two streams are separate pipes: compare each on its own.
	var stdout, stderr []string
	for _, l := range outputs(rec) {
		if s, ok := strings.CutPrefix(l, "stdout:"); ok {
			stdout = append(stdout, s)
		} else {
			stderr = append(stderr, l)
		}
	}
	want := "[it's a $VAR `x`] [box] [null] [two  spaces]|id=i-123|stderr:oops"
	if got := strings.Join(append(stdout, stderr...), "|"); got != want {
		t.Errorf("output = %q\nwant     %q", got, want)
	}
}

func TestScriptExitCodesAndCommand(t *testing.T) {
	dir := t.TempDir()
	s := filepath.Join(dir, "s.sh")
	os.WriteFile(s, []byte("echo ran; exit 4\n"), 0o755)

	err := mustDecode(t, `script = "`+s+`"`, false).Run(context.Background(), testEnv(&eventtest.Recorder{}))
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Status != 4 || err.Error() != "script "+s+": exit status 4" {
		t.Fatalf("err = %v, want exit status 4", err)
	}
	rec := &eventtest.Recorder{}
	if err := mustDecode(t, `scripts = ["`+s+`"]`+"\nvalid_exit_codes = [4]", false).Run(context.Background(), testEnv(rec)); err != nil {
		t.Fatalf("valid exit code 4: %v", err)
	}
	if strings.Join(outputs(rec), "|") != "stdout:ran" {
		t.Errorf("output = %q", outputs(rec))
	}
	rec = &eventtest.Recorder{}
	if err := mustDecode(t, `command = "echo via command"`, false).Run(context.Background(), testEnv(rec)); err != nil || strings.Join(outputs(rec), "|") != "stdout:via command" {
		t.Fatalf("command: %v %q", err, outputs(rec))
	}
}

func TestExecuteCommand(t *testing.T) {
	rec := &eventtest.Recorder{}
	c := mustDecode(t, `
inline = ["echo unused"]
execute_command = ["/bin/sh", "-c", "echo custom {{.Vars}}"]
environment_vars = ["X=1"]
`, false)
	if err := c.Run(context.Background(), testEnv(rec)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outputs(rec), "|"); got != "stdout:custom PACKER_BUILDER_TYPE=null PACKER_BUILD_NAME=box X=1" {
		t.Errorf("output = %q", got)
	}
	// The post-processor's old single-string form runs under sh -c.
	c = mustDecode(t, `
inline = ["true"]
execute_command = ["echo old {{.Script}} | sed s/old/legacy/"]
`, true)
	rec = &eventtest.Recorder{}
	if err := c.Run(context.Background(), testEnv(rec)); err != nil {
		t.Fatal(err)
	}
	if len(outputs(rec)) != 1 || !strings.HasPrefix(outputs(rec)[0], "stdout:legacy /") {
		t.Errorf("output = %q", outputs(rec))
	}
}

func TestOnlyOnSkips(t *testing.T) {
	rec := &eventtest.Recorder{}
	c := mustDecode(t, `
inline = ["echo should not run"]
only_on = ["solaris"]
`, false)
	if err := c.Run(context.Background(), testEnv(rec)); err != nil {
		t.Fatal(err)
	}
	if len(outputs(rec)) != 0 || len(rec.Messages()) != 1 || !strings.Contains(rec.Messages()[0], "skipped") {
		t.Errorf("out %q msg %q, want only a skip message", outputs(rec), rec.Messages())
	}
}

func TestCancelKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	c := mustDecode(t, `inline = ["sleep 60 & echo $! > `+pidFile+`", "wait"]`, false)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx, testEnv(&eventtest.Recorder{})) }()

	var pid int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			break
		}
	}
	if pid == 0 {
		t.Fatal("the script did not start its child")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break // gone, or a zombie waiting for its reaper
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d still running after cancel: %s", pid, stat)
		}
	}
}

func TestValidation(t *testing.T) {
	cases := []struct{ src, want string }{
		{``, "Nothing to run"},
		{`command = "x"` + "\n" + `inline = ["y"]`, "Conflicting arguments"},
		{`inline = ["y"]` + "\n" + `only_on = ["plan9"]`, "Invalid only_on"},
		{`inline = ["y"]` + "\n" + `use_linux_pathing = true`, "use_linux_pathing is not supported"},
		{`inline = ["y"]` + "\n" + `execute_command = []`, "Invalid execute_command"},
		{`inline = ["y"]` + "\n" + `execute_command = ["sh", "{{"]`, "Invalid execute_command"},
	}
	for _, tc := range cases {
		_, diags := decode(t, tc.src, false)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%q: diags = %v, want %q", tc.src, diags, tc.want)
		}
	}
}

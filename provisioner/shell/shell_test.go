package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/localcomm"
	"github.com/kilnhq/kiln/provisioner"
)

func parse(t *testing.T, src string) hcl.Body { return parseB(t, src) }

func parseB(t testing.TB, src string) hcl.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "test.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return f.Body
}

func newProv(t *testing.T, src string) provisioner.Provisioner {
	t.Helper()
	p, diags := New(parse(t, src), nil)
	if diags.HasErrors() {
		t.Fatalf("New: %v", diags)
	}
	return p
}

func testEnv(events event.Sink) *provisioner.Env {
	return &provisioner.Env{
		Info:   builder.Info{Name: "web.null.box", Type: "null", SourceName: "box"},
		Events: events,
		Source: `provisioner "shell" (test.pkr.hcl:1)`,
		Data:   map[string]string{"Host": "127.0.0.1"},
	}
}

func hclList(items ...string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = string(hclwrite.TokensForValue(cty.StringVal(s)).Bytes())
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tricky values that must reach the script unchanged.
var tricky = map[string]string{
	"SPACES": "hello  world",
	"QUOTES": `it's "quoted"`,
	"DOLLAR": "$HOME `id` $(id) \\n",
}

func TestInlineEnvQuoting(t *testing.T) {
	dir := t.TempDir()
	src := `
remote_folder = "` + dir + `"
inline = ["echo \"SPACES=[$SPACES]\"", "echo \"QUOTES=[$QUOTES]\"", "printf \"%s\\n\" \"DOLLAR=[$DOLLAR]\"", "echo \"MAP=[$MAP]\"", "echo \"B=$PACKER_BUILD_NAME T=$PACKER_BUILDER_TYPE\"", "echo host={{ .Host }}", "echo err >&2"]
environment_vars = ` + hclList("SPACES="+tricky["SPACES"], "QUOTES="+tricky["QUOTES"], "DOLLAR="+tricky["DOLLAR"], "MAP=from-list") + `
env = { MAP = "from 'env' map" }
`
	p := newProv(t, src)
	rec := &eventtest.Recorder{}
	comm := &localcomm.Comm{}
	if err := p.Provision(context.Background(), testEnv(rec), comm); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"SPACES=[" + tricky["SPACES"] + "]",
		"QUOTES=[" + tricky["QUOTES"] + "]",
		"DOLLAR=[" + tricky["DOLLAR"] + "]",
		"MAP=[from 'env' map]",
		"B=box T=null",
		"host=127.0.0.1",
	}
	got := rec.Lines("stdout")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stdout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := rec.Lines("stderr"); len(got) != 1 || got[0] != "err" {
		t.Errorf("stderr = %q", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("scripts left behind: %v", left)
	}
}

func TestScriptsAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	s1 := filepath.Join(dir, "one.sh")
	s2 := filepath.Join(dir, "two.sh")
	os.WriteFile(s1, []byte("#!/bin/sh\r\necho one \"$X\"\r\n"), 0o644)
	os.WriteFile(s2, []byte("#!/bin/sh\necho two\nexit 3\n"), 0o644)
	remote := t.TempDir()

	cases := []struct {
		name    string
		extra   string
		wantErr string
	}{
		{"invalid exit", "", "script " + s2 + ": exit status 3"},
		{"valid exit", "valid_exit_codes = [0, 3]", ""},
		{"zero not valid", "valid_exit_codes = [3]", "script " + s1 + ": exit status 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProv(t, `
remote_folder = "`+remote+`"
scripts = `+hclList(s1, s2)+`
environment_vars = ["X=a b"]
`+tc.extra)
			rec := &eventtest.Recorder{}
			err := p.Provision(context.Background(), testEnv(rec), &localcomm.Comm{})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if tc.wantErr == "" {
				if got := strings.Join(rec.Lines("stdout"), "|"); got != "one a b|two" {
					t.Errorf("stdout = %q", got)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(remote, "*")); len(left) != 0 {
				t.Errorf("scripts left behind: %v", left)
			}
		})
	}
}

func TestEnvVarFileAndSkipClean(t *testing.T) {
	remote := t.TempDir()
	p := newProv(t, `
remote_folder = "`+remote+`"
remote_file = "mine.sh"
use_env_var_file = true
skip_clean = true
environment_vars = `+hclList("Q="+tricky["QUOTES"], "D="+tricky["DOLLAR"])+`
inline = ["printf \"%s\\n\" \"[$Q][$D]\""]
`)
	rec := &eventtest.Recorder{}
	comm := &localcomm.Comm{}
	if err := p.Provision(context.Background(), testEnv(rec), comm); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rec.Lines("stdout"), "\n"), "["+tricky["QUOTES"]+"]["+tricky["DOLLAR"]+"]"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(remote, "mine.sh")); err != nil {
		t.Errorf("skip_clean: script should be kept: %v", err)
	}
	vf, _ := filepath.Glob(filepath.Join(remote, "varfile_*.sh"))
	if len(vf) != 1 {
		t.Fatalf("env var file kept with skip_clean: got %v", vf)
	}
	cmds := comm.Commands()
	if len(cmds) != 1 || !strings.Contains(cmds[0], ". "+vf[0]+" && ") {
		t.Errorf("commands = %q, want the default env-var-file command sourcing %s", cmds, vf[0])
	}
}

func TestExpectDisconnect(t *testing.T) {
	remote := t.TempDir()
	src := `
remote_folder = "` + remote + `"
inline = ["echo before reboot"]
`
	disconnect := func(cmd string) bool { return strings.Contains(cmd, "script_") && !strings.HasPrefix(cmd, "rm ") }

	p := newProv(t, src)
	err := p.Provision(context.Background(), testEnv(&eventtest.Recorder{}), &localcomm.Comm{Disconnect: disconnect})
	if err == nil || !strings.Contains(err.Error(), "expect_disconnect") {
		t.Fatalf("unexpected disconnect: err = %v, want a hint at expect_disconnect", err)
	}

	p = newProv(t, src+"expect_disconnect = true\n")
	comm := &localcomm.Comm{Disconnect: disconnect}
	if err := p.Provision(context.Background(), testEnv(&eventtest.Recorder{}), comm); err != nil {
		t.Fatalf("expected disconnect: %v", err)
	}
	cmds := comm.Commands()
	if len(cmds) != 2 || !strings.HasPrefix(cmds[1], "rm -f ") {
		t.Errorf("commands = %q, want the script then its removal", cmds)
	}
}

func TestValidation(t *testing.T) {
	cases := []struct{ src, want string }{
		{``, "Nothing to run"},
		{`inline = []`, "inline is empty"},
		{`inline = ["true"]` + "\n" + `script = "x.sh"`, "Conflicting arguments"},
		{`script = "/nonexistent/x.sh"`, "Script not found"},
		{`inline = ["true"]` + "\n" + `environment_vars = ["NOEQUALS"]`, "Invalid environment variable"},
		{`inline = ["true"]` + "\n" + `execute_command = "{{.Path"`, "Invalid execute_command"},
		{`inline = ["true"]` + "\n" + `bogus = 1`, "Unsupported argument"},
	}
	for _, tc := range cases {
		_, diags := New(parse(t, tc.src), nil)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%q: diags = %v, want %q", tc.src, diags, tc.want)
		}
	}
}

func TestUnknownValuesValidate(t *testing.T) {
	ectx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"build": cty.ObjectVal(map[string]cty.Value{"Host": cty.UnknownVal(cty.String)}),
	}}
	src := `
inline = ["echo ${build.Host}"]
environment_vars = ["H=${build.Host}"]
`
	if _, diags := New(parse(t, src), ectx); diags.HasErrors() {
		t.Fatalf("unknown values must validate: %v", diags)
	}
	if _, diags := New(parse(t, `script = build.Host`), ectx); diags.HasErrors() {
		t.Fatalf("unknown script must validate: %v", diags)
	}
}

func TestCleanupSurvivesExitInExecuteCommand(t *testing.T) {
	remote := t.TempDir()
	p := newProv(t, `
remote_folder = "`+remote+`"
inline = ["exit 5"]
execute_command = "chmod +x {{.Path}}; {{.Vars}} {{.Path}}; exit $? # a comment"
valid_exit_codes = [5]
`)
	comm := &localcomm.Comm{}
	if err := p.Provision(context.Background(), testEnv(&eventtest.Recorder{}), comm); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(remote, "*")); len(left) != 0 {
		t.Errorf("script left behind: %v", left)
	}
	if n := len(comm.Commands()); n != 1 {
		t.Errorf("%d commands, want 1 (the removal rides along)", n)
	}
}

func TestCancelRemovesScript(t *testing.T) {
	remote := t.TempDir()
	p := newProv(t, `
remote_folder = "`+remote+`"
inline = ["echo started", "sleep 30"]
`)
	// wait only keeps a provisioner that ignores the cancel from hanging
	// the test: the script would run 30 s.
	wait, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &eventtest.Recorder{}
	done := make(chan error, 1)
	go func() { done <- p.Provision(ctx, testEnv(rec), &localcomm.Comm{}) }()
	if _, err := rec.Wait(wait, eventtest.Line("started")); err != nil {
		t.Fatalf("the script did not start: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want the cancellation", err)
		}
	case <-wait.Done():
		t.Fatal("Provision went on after it was cancelled")
	}
	if left, _ := filepath.Glob(filepath.Join(remote, "*")); len(left) != 0 {
		t.Errorf("script left behind after cancel: %v", left)
	}
}

// flaky fails its first uploads with a lost connection (or err), as a
// machine that is rebooting would.
type flaky struct {
	localcomm.Comm
	failures int
	err      error
	uploads  int
}

func (f *flaky) Upload(ctx context.Context, dst string, r io.Reader, size int64, mode fs.FileMode) error {
	f.uploads++
	if f.uploads <= f.failures {
		return f.err
	}
	return f.Comm.Upload(ctx, dst, r, size, mode)
}

func TestUploadRetriedWhileDisconnected(t *testing.T) {
	remote := t.TempDir()
	src := `
remote_folder = "` + remote + `"
inline = ["echo ok"]
start_retry_timeout = "5s"
`
	comm := &flaky{failures: 3, err: fmt.Errorf("upload: %w", communicator.ErrDisconnected)}
	rec := &eventtest.Recorder{}
	if err := newProv(t, src).Provision(context.Background(), testEnv(rec), comm); err != nil {
		t.Fatalf("a connection coming back must be waited for: %v", err)
	}
	if comm.uploads != 4 || strings.Join(rec.Lines("stdout"), "") != "ok" {
		t.Errorf("uploads = %d, stdout %q", comm.uploads, rec.Lines("stdout"))
	}

	comm = &flaky{failures: 1, err: errors.New("permission denied")}
	if err := newProv(t, src).Provision(context.Background(), testEnv(&eventtest.Recorder{}), comm); err == nil || !strings.Contains(err.Error(), "permission denied") || comm.uploads != 1 {
		t.Errorf("other errors are not retried: err %v after %d uploads", err, comm.uploads)
	}

	comm = &flaky{failures: 1000, err: fmt.Errorf("upload: %w", communicator.ErrDisconnected)}
	p := newProv(t, strings.Replace(src, `"5s"`, `"300ms"`, 1))
	if err := p.Provision(context.Background(), testEnv(&eventtest.Recorder{}), comm); !errors.Is(err, communicator.ErrDisconnected) {
		t.Errorf("after start_retry_timeout: err = %v, want the lost connection", err)
	}
}

// noisyComm is a communicator whose errors quote the whole command line,
// as some do; Run waits for ctx, and so do uploads when blockUploads.
type noisyComm struct {
	localcomm.Comm
	blockUploads bool
}

func (n *noisyComm) Upload(ctx context.Context, dst string, r io.Reader, size int64, mode fs.FileMode) error {
	if n.blockUploads {
		<-ctx.Done()
		return fmt.Errorf("upload %s: %w", dst, ctx.Err())
	}
	return n.Comm.Upload(ctx, dst, r, size, mode)
}

func (n *noisyComm) Run(ctx context.Context, cmd *communicator.Cmd) error {
	if strings.HasPrefix(cmd.Command, "rm -f ") {
		return n.Comm.Run(ctx, cmd)
	}
	<-ctx.Done()
	return fmt.Errorf("run %q: %w", cmd.Command, ctx.Err())
}

// A cancelled provisioner says which script was cancelled and why, in a
// few words: never the command line or the environment values.
func TestCancelErrorIsShort(t *testing.T) {
	const secret = "s3cret-value"
	script := filepath.Join(t.TempDir(), "setup.sh")
	if err := os.WriteFile(script, []byte("sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src string
		comm      communicator.Communicator
		want      string
	}{
		{"inline", `inline = ["sleep 30"]`, &noisyComm{}, "inline script cancelled: context canceled"},
		{"script", `script = "` + script + `"`, &noisyComm{}, "script " + script + " cancelled: context canceled"},
		{"upload", `script = "` + script + `"`, &noisyComm{blockUploads: true}, "script " + script + " cancelled: context canceled"},
		{"env file", `inline = ["true"]` + "\nuse_env_var_file = true", &noisyComm{blockUploads: true}, "environment file upload cancelled: context canceled"},
		{"pause_after", `inline = ["true"]` + "\npause_after = \"1m\"", &localcomm.Comm{}, "pause_after cancelled: context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProv(t, "remote_folder = \""+t.TempDir()+"\"\n"+tc.src+`
environment_vars = ["TOKEN=`+secret+`"]
env = { OTHER = "`+secret+`" }
`)
			ctx, cancel := context.WithCancel(context.Background())
			env := testEnv(&eventtest.Recorder{})
			if tc.name == "pause_after" {
				env.Events = cancelOnPause{cancel}
			} else {
				time.AfterFunc(200*time.Millisecond, cancel)
			}
			err := p.Provision(ctx, env, tc.comm)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if err.Error() != tc.want {
				t.Errorf("err = %q, want %q", err, tc.want)
			}
			for _, leak := range []string{secret, "TOKEN", "chmod", "kiln_status"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error shows %q: %v", leak, err)
				}
			}
		})
	}
}

// cancelOnPause cancels once the provisioner says it pauses.
type cancelOnPause struct{ cancel context.CancelFunc }

func (c cancelOnPause) Emit(e event.Event) {
	if m, ok := e.(*event.Message); ok && strings.Contains(m.Text, "pausing") {
		c.cancel()
	}
}

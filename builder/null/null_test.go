package null

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/testenv"
	"github.com/kilnhq/kiln/internal/testsshd"
)

func parse(t *testing.T, src string) hcl.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "null.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return f.Body
}

func TestNewDiagnostics(t *testing.T) {
	cases := []struct {
		name, src string
		want      string // substring of the diagnostics; "" for none
	}{
		{"none", `communicator = "none"`, ""},
		{"ssh", "ssh_host = \"127.0.0.1\"\nssh_username = \"root\"\nssh_host_key_check = false", ""},
		{"unknown host is fine", "ssh_host = build.Host\nssh_username = \"root\"\nssh_host_key_check = false", ""},
		{"no host", `ssh_username = "root"`, "set ssh_host"},
		{"no user", `ssh_host = "127.0.0.1"`, "set ssh_username"},
		{"winrm", `communicator = "winrm"`, "winrm"},
		{"typo", "communicator = \"none\"\nssh_hots = \"x\"", "ssh_hots"},
	}
	ectx := &hcl.EvalContext{Variables: map[string]cty.Value{"build": cty.DynamicVal}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, diags := New(parse(t, c.src), ectx)
			if c.want == "" {
				if diags.HasErrors() || b == nil {
					t.Fatalf("unexpected diagnostics: %v", diags)
				}
				return
			}
			if !diags.HasErrors() || !strings.Contains(diags.Error(), c.want) {
				t.Fatalf("diagnostics %v, want an error mentioning %q", diags, c.want)
			}
			for _, d := range diags {
				if d.Subject == nil || d.Subject.Filename != "null.pkr.hcl" {
					t.Errorf("diagnostic without a range in the file: %v", d)
				}
			}
		})
	}
}

func TestRunWithoutCommunicator(t *testing.T) {
	b, diags := New(parse(t, `communicator = "none"`), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rec := &eventtest.Recorder{}
	env := &builder.Env{Events: rec}
	var gotComm communicator.Communicator
	var gotData map[string]string
	art, err := b.Run(context.Background(), env, builder.HookFunc(func(_ context.Context, comm communicator.Communicator, data map[string]string) error {
		gotComm, gotData = comm, data
		return nil
	}))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if gotComm != nil {
		t.Errorf("hook got communicator %v, want nil", gotComm)
	}
	if gotData["ConnType"] != "none" || gotData["ID"] != "Null" {
		t.Errorf("hook data %v", gotData)
	}
	if art == nil || art.ID() != "Null" || art.BuilderType() != "null" || len(art.Files()) != 0 {
		t.Errorf("artifact %v, want Packer's null artifact", art)
	}
	var steps []string
	for _, s := range eventtest.Of[*event.StepFinished](rec) {
		steps = append(steps, s.Step+errText(s.Error))
	}
	if strings.Join(steps, ",") != "connect,provision" {
		t.Errorf("steps %v", steps)
	}
}

func errText(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func TestRunHookErrorFailsTheBuild(t *testing.T) {
	b, _ := New(parse(t, `communicator = "none"`), nil)
	boom := errors.New(`provisioner "shell-local" (x.pkr.hcl:3): exit status 1`)
	art, err := b.Run(context.Background(), &builder.Env{}, builder.HookFunc(func(context.Context, communicator.Communicator, map[string]string) error {
		return boom
	}))
	if !errors.Is(err, boom) || art != nil {
		t.Fatalf("Run = %v, %v; want the hook's error and no artifact", art, err)
	}
}

func TestRunConnectFailure(t *testing.T) {
	port := testenv.FreePort(t) // nothing listens there
	src := "ssh_host = \"127.0.0.1\"\nssh_port = " + strconv.Itoa(port) + "\nssh_username = \"root\"\nssh_password = \"x\"\nssh_host_key_check = false\nssh_timeout = \"300ms\""
	b, diags := New(parse(t, src), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	called := false
	_, err := b.Run(context.Background(), &builder.Env{}, builder.HookFunc(func(context.Context, communicator.Communicator, map[string]string) error {
		called = true
		return nil
	}))
	if err == nil || !strings.HasPrefix(err.Error(), "connect: ") {
		t.Fatalf("Run error %v, want a connect error", err)
	}
	if called {
		t.Error("provisioners ran without a connection")
	}
}

func TestRunOverSSH(t *testing.T) {
	srv := testsshd.Start(t)
	b, diags := New(parse(t, srv.HCL()+"ssh_password = \"unused-pw\"\n"), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var out strings.Builder
	var data map[string]string
	art, err := b.Run(context.Background(), &builder.Env{}, builder.HookFunc(func(ctx context.Context, comm communicator.Communicator, d map[string]string) error {
		data = d
		return comm.Run(ctx, &communicator.Cmd{Command: "echo hello from $(whoami)", Stdout: &out})
	}))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if art == nil || out.String() != "hello from "+srv.User+"\n" {
		t.Errorf("artifact %v, output %q", art, out.String())
	}
	want := map[string]string{"ID": "Null", "ConnType": "ssh", "Host": srv.Host, "Port": strconv.Itoa(srv.Port), "User": srv.User, "Password": "unused-pw"}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("data[%s] = %q, want %q", k, data[k], v)
		}
	}
}

func TestRunRefusesWrongHostKey(t *testing.T) {
	srv := testsshd.Start(t)
	other := testsshd.Start(t)
	src := strings.Replace(srv.HCL(), srv.HostKey, other.HostKey, 1)
	b, diags := New(parse(t, src), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, err := b.Run(context.Background(), &builder.Env{}, builder.HookFunc(func(context.Context, communicator.Communicator, map[string]string) error {
		t.Error("provisioned a host whose key does not match")
		return nil
	}))
	if err == nil || !strings.Contains(err.Error(), "host key") {
		t.Fatalf("Run error %v, want a host key mismatch", err)
	}
}

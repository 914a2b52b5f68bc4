package ssh_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/internal/hclconf"
)

// builderConfig is how a builder embeds the communicator options.
type builderConfig struct {
	Name string     `hcl:"name,optional"`
	SSH  ssh.Config `hcl:",squash"`
}

func decode(t *testing.T, src string) (*builderConfig, hcl.Body, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "test.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var cfg builderConfig
	diags = hclconf.Decode(f.Body, nil, &cfg)
	return &cfg, f.Body, diags
}

func TestDecodeConfig(t *testing.T) {
	cfg, body, diags := decode(t, `
name                     = "x"
ssh_host                 = "127.0.0.1"
ssh_port                 = 2222
ssh_username             = "admin"
ssh_timeout              = "10m"
ssh_keep_alive_interval  = "-1s"
ssh_host_key_check       = false
ssh_file_transfer_method = "scp"
ssh_ciphers              = ["aes128-gcm@openssh.com"]
pause_before_connecting  = "2s"
ssh_pty                  = true
`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c := cfg.SSH
	if c.Host != "127.0.0.1" || c.Port != 2222 || c.Username != "admin" || c.Timeout != 10*time.Minute ||
		c.KeepAliveInterval == nil || *c.KeepAliveInterval != -time.Second || c.HostKeyCheck == nil || *c.HostKeyCheck ||
		c.FileTransferMethod != "scp" || len(c.Ciphers) != 1 || c.PauseBeforeConnecting != 2*time.Second || !c.PTY {
		t.Errorf("decoded %+v", c)
	}
	if d := c.Validate(body); d.HasErrors() {
		t.Errorf("Validate: %v", d)
	}
	if !c.Enabled() {
		t.Error("Enabled() = false for the default communicator")
	}
}

func TestDecodeUnknownAttribute(t *testing.T) {
	_, _, diags := decode(t, `ssh_usernme = "x"`)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "ssh_username") {
		t.Errorf("misspelt attribute: %v, want an error suggesting ssh_username", diags)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		src, attr, want string
		line            int
	}{
		{"communicator = \"winrm\"", "communicator", "winrm", 1},
		{"communicator = \"telnet\"", "communicator", "telnet", 1},
		{"name = \"a\"\nssh_file_transfer_method = \"ftp\"", "ssh_file_transfer_method", "ftp", 2},
		{"ssh_port = 70000", "ssh_port", "65535", 1},
		{"ssh_timeout = \"-1s\"", "ssh_timeout", "negative", 1},
		{"ssh_host_public_key = \"not a key\"", "ssh_host_public_key", "authorized_keys", 1},
		{"ssh_certificate_file = \"c.pub\"", "ssh_certificate_file", "ssh_private_key_file", 1},
		{"\n\nssh_bastion_username = \"jump\"", "ssh_bastion_username", "ssh_bastion_host", 3},
	} {
		t.Run(tc.attr, func(t *testing.T) {
			cfg, body, diags := decode(t, tc.src)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			got := cfg.SSH.Validate(body)
			if len(got) != 1 {
				t.Fatalf("Validate = %v, want one diagnostic", got)
			}
			d := got[0]
			if !strings.Contains(d.Detail, tc.want) {
				t.Errorf("detail %q does not mention %q", d.Detail, tc.want)
			}
			if d.Subject == nil || d.Subject.Start.Line != tc.line {
				t.Errorf("diagnostic at %v, want line %d", d.Subject, tc.line)
			}
		})
	}
	var none ssh.Config
	none.Type = "none"
	if none.Enabled() {
		t.Error(`communicator = "none" is Enabled`)
	}
	if d := none.Validate(nil); d.HasErrors() {
		t.Errorf("Validate(nil) of a valid config: %v", d)
	}
}

package localexec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/internal/compconf"
	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/kilnhq/kiln/internal/shellrun"
)

// DefaultExecuteCommand runs a script, as Packer does on Unix-like systems.
var DefaultExecuteCommand = []string{"/bin/sh", "-c", "{{.Vars}} {{.Script}}"}

// supportedOS are the names only_on accepts, as Packer's.
var supportedOS = []string{"darwin", "freebsd", "linux", "openbsd", "solaris", "windows"}

// Config is the shell-local configuration shared by the provisioner and the
// post-processor.
type Config struct {
	shellrun.Config `hcl:",squash"`

	// Command is a single command, kept for compatibility: it is inline
	// with one line.
	Command string `hcl:"command,optional"`
	// ExecuteCommand is the program and arguments that run a script; each
	// is a Go template with .Vars and .Script.
	ExecuteCommand []string `hcl:"execute_command,optional"`
	// OnlyOn lists the operating systems (GOOS names) to run on; elsewhere
	// the component does nothing.
	OnlyOn []string `hcl:"only_on,optional"`
	// TempfileExtension is the extension of the inline script's file.
	TempfileExtension string `hcl:"tempfile_extension,optional"`
	// UseLinuxPathing is Packer's option for Windows Subsystem for Linux;
	// kiln does not run scripts on Windows, so true is an error.
	UseLinuxPathing bool `hcl:"use_linux_pathing,optional"`
}

// Decode decodes and validates a shell-local body. A post-processor accepts
// an execute_command of one element as Packer's old string form, run with
// "sh -c".
func Decode(body hcl.Body, ectx *hcl.EvalContext, postProcessor bool) (*Config, hcl.Diagnostics) {
	var cfg Config
	diags := hclconf.Decode(body, ectx, &cfg)
	if diags.HasErrors() {
		return nil, diags
	}
	attrs := compconf.BodyAttrs(body, append(shellrun.AttrNames, "command", "execute_command", "only_on", "use_linux_pathing")...)
	diags = append(diags, cfg.Validate(attrs, []string{"command", "inline", "script", "scripts"})...)
	if cfg.Command != "" {
		cfg.Inline = []string{cfg.Command}
	}
	if postProcessor && len(cfg.ExecuteCommand) == 1 {
		cfg.ExecuteCommand = []string{"sh", "-c", cfg.ExecuteCommand[0]}
	}
	if attrs.Has("execute_command") && cfg.ExecuteCommand != nil && len(cfg.ExecuteCommand) == 0 {
		diags = append(diags, attrs.Error("execute_command", "Invalid execute_command", "execute_command needs at least the program to run."))
	}
	for _, arg := range cfg.ExecuteCommand {
		diags = append(diags, attrs.CheckSyntax("execute_command", arg)...)
	}
	for _, os := range cfg.OnlyOn {
		if !slices.Contains(supportedOS, os) {
			diags = append(diags, attrs.Error("only_on", "Invalid only_on", fmt.Sprintf("%q is not an operating system kiln knows; use one of %s.", os, strings.Join(supportedOS, ", "))))
		}
	}
	if cfg.UseLinuxPathing {
		diags = append(diags, attrs.Error("use_linux_pathing", "use_linux_pathing is not supported",
			"use_linux_pathing converts Windows paths for the Windows Subsystem for Linux; kiln runs shell-local scripts on Unix-like systems only. Remove it."))
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return &cfg, diags
}

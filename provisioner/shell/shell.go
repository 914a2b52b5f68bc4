package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/clock"
	"github.com/kilnhq/kiln/internal/compconf"
	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/kilnhq/kiln/internal/shellrun"
	"github.com/kilnhq/kiln/provisioner"
)

// Defaults, as Packer's.
const (
	DefaultExecuteCommand         = "chmod +x {{.Path}}; {{.Vars}} {{.Path}}"
	DefaultEnvVarFileCommand      = "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}"
	DefaultEnvVarFileFormat       = "export %s='%s'\n"
	DefaultRemoteFolder           = "/tmp"
	DefaultStartRetryTimeout      = 5 * time.Minute
	retryFirstDelay, retryCeiling = 100 * time.Millisecond, 2 * time.Second
	cancelCleanupTimeout          = 10 * time.Second
)

// Config is the shell provisioner's configuration.
type Config struct {
	shellrun.Config `hcl:",squash"`

	// UseEnvVarFile writes the variables to a file that the command sources.
	UseEnvVarFile bool `hcl:"use_env_var_file,optional"`
	// ExecuteCommand runs the uploaded script: a Go template with .Path,
	// .Vars and .EnvVarFile.
	ExecuteCommand string `hcl:"execute_command,optional"`
	RemoteFolder   string `hcl:"remote_folder,optional"`
	RemoteFile     string `hcl:"remote_file,optional"`
	// RemotePath overrides RemoteFolder/RemoteFile.
	RemotePath string `hcl:"remote_path,optional"`
	// ExpectDisconnect makes a lost connection (a reboot) a success.
	ExpectDisconnect bool `hcl:"expect_disconnect,optional"`
	SkipClean        bool `hcl:"skip_clean,optional"`
	// StartRetryTimeout is how long uploading and starting are retried
	// while the connection is coming back.
	StartRetryTimeout time.Duration `hcl:"start_retry_timeout,optional"`
	PauseAfter        time.Duration `hcl:"pause_after,optional"`
	// Binary keeps Windows line endings in scripts instead of converting them.
	Binary bool `hcl:"binary,optional"`
}

// Provisioner runs shell scripts on the machine.
type Provisioner struct {
	cfg Config
}

var _ provisioner.Factory = New

// New decodes a shell provisioner block.
func New(body hcl.Body, ectx *hcl.EvalContext) (provisioner.Provisioner, hcl.Diagnostics) {
	var cfg Config
	diags := hclconf.Decode(body, ectx, &cfg)
	if diags.HasErrors() {
		return nil, diags
	}
	attrs := compconf.BodyAttrs(body, append(shellrun.AttrNames, "execute_command")...)
	diags = append(diags, cfg.Validate(attrs, []string{"inline", "script", "scripts"})...)
	diags = append(diags, attrs.CheckSyntax("execute_command", cfg.ExecuteCommand)...)
	if diags.HasErrors() {
		return nil, diags
	}
	return &Provisioner{cfg: cfg}, diags
}

// script is one script to upload and run.
type script struct {
	name string // for messages: the local path, or "inline"
	data []byte
}

// Provision uploads and runs every script in turn.
func (p *Provisioner) Provision(ctx context.Context, env *provisioner.Env, comm communicator.Communicator) error {
	c := &p.cfg
	render := compconf.Legacy(env.Info, env.Data)
	vars, err := c.Vars(baseVars(env), render)
	if err != nil {
		return err
	}
	scripts, err := p.scripts(render)
	if err != nil {
		return err
	}

	folder := c.RemoteFolder
	if folder == "" {
		folder = DefaultRemoteFolder
	}
	remotePath := c.RemotePath
	if remotePath == "" {
		file := c.RemoteFile
		if file == "" {
			file = fmt.Sprintf("script_%d.sh", rand.IntN(10000))
		}
		remotePath = path.Join(folder, file)
	}
	format, command := c.EnvVarFormat, c.ExecuteCommand
	if c.UseEnvVarFile {
		if format == "" {
			format = DefaultEnvVarFileFormat
		}
		if command == "" {
			command = DefaultEnvVarFileCommand
		}
	} else if command == "" {
		command = DefaultExecuteCommand
	}
	flat := shellrun.Flatten(vars, format)

	r := &runner{cfg: c, env: env, comm: comm}
	tmplData := compconf.With(env.Data, "Path", remotePath, "Vars", flat, "EnvVarFile", "")
	if c.UseEnvVarFile {
		varFile := path.Join(folder, fmt.Sprintf("varfile_%d.sh", rand.IntN(10000)))
		tmplData["EnvVarFile"] = varFile
		if err := r.retry(ctx, func(ctx context.Context) error {
			return comm.Upload(ctx, varFile, bytes.NewReader([]byte(flat)), int64(len(flat)), 0o600)
		}); err != nil {
			if ctx.Err() != nil {
				return stopped(ctx, "environment file upload")
			}
			return fmt.Errorf("upload environment file %s: %w", varFile, err)
		}
		if !c.SkipClean {
			defer r.remove(ctx, varFile)
		}
	}
	cmdline, err := compconf.Legacy(env.Info, tmplData)(command)
	if err != nil {
		return fmt.Errorf("execute_command: %w", err)
	}
	for _, s := range scripts {
		if err := r.run(ctx, s, remotePath, cmdline); err != nil {
			return err
		}
	}
	if c.PauseAfter > 0 {
		env.Events.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("%s: pausing %s after this provisioner", env.Source, c.PauseAfter)})
		if clock.Sleep(ctx, c.PauseAfter) != nil {
			return stopped(ctx, "pause_after")
		}
	}
	return nil
}

// baseVars are the variables every script gets, as in Packer.
func baseVars(env *provisioner.Env) map[string]string {
	vars := map[string]string{
		"PACKER_BUILD_NAME":   env.Info.SourceName,
		"PACKER_BUILDER_TYPE": env.Info.Type,
	}
	for key, name := range map[string]string{"PackerHTTPAddr": "PACKER_HTTP_ADDR", "PackerHTTPIP": "PACKER_HTTP_IP", "PackerHTTPPort": "PACKER_HTTP_PORT"} {
		if v := env.Data[key]; v != "" {
			vars[name] = v
		}
	}
	return vars
}

// scripts reads the local scripts, or builds the inline one.
func (p *Provisioner) scripts(render shellrun.Render) ([]script, error) {
	c := &p.cfg
	if len(c.Inline) > 0 {
		data, err := c.InlineScript(render)
		if err != nil {
			return nil, err
		}
		return []script{{name: "inline", data: data}}, nil
	}
	var out []script
	for _, name := range c.ScriptPaths() {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read script: %w", err)
		}
		if !c.Binary {
			data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		}
		out = append(out, script{name: name, data: data})
	}
	return out, nil
}

// runner runs the scripts of one Provision call.
type runner struct {
	cfg  *Config
	env  *provisioner.Env
	comm communicator.Communicator
}

// run uploads s to remotePath, runs cmdline and removes the script.
func (r *runner) run(ctx context.Context, s script, remotePath, cmdline string) error {
	r.env.Events.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("%s: provisioning with shell script: %s", r.env.Source, s.name)})
	if err := r.retry(ctx, func(ctx context.Context) error {
		return r.comm.Upload(ctx, remotePath, bytes.NewReader(s.data), int64(len(s.data)), 0o755)
	}); err != nil {
		if ctx.Err() != nil {
			return stopped(ctx, s.label())
		}
		return fmt.Errorf("upload script %s to %s: %w", s.name, remotePath, err)
	}
	stdout := shellrun.NewLineWriter(r.env.Events, r.env.Source, "stdout")
	stderr := shellrun.NewLineWriter(r.env.Events, r.env.Source, "stderr")
	err := r.comm.Run(ctx, &communicator.Cmd{Command: r.withCleanup(cmdline, remotePath), Stdout: stdout, Stderr: stderr})
	stdout.Flush()
	stderr.Flush()

	if err != nil && ctx.Err() != nil {
		// Cancelled or timed out: the wrapper was killed before its rm.
		// Remove the script under a context of its own.
		if !r.cfg.SkipClean {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelCleanupTimeout)
			_ = r.rm(cctx, remotePath)
			cancel()
		}
		return stopped(ctx, s.label())
	}
	var exit *communicator.ExitError
	switch {
	case err == nil:
		exit = &communicator.ExitError{Command: cmdline}
	case errors.As(err, &exit):
		if exit.Signal != "" {
			// The wrapper itself was killed: its rm may not have run.
			r.cleanupAfterFailure(ctx, remotePath)
			return r.wrap(s, exit)
		}
	case errors.Is(err, communicator.ErrDisconnected):
		if !r.cfg.ExpectDisconnect {
			// err quotes the whole command line, environment included:
			// name the loss instead.
			return r.wrap(s, fmt.Errorf("the connection was lost while the script ran (set expect_disconnect = true if it reboots the machine): %w", communicator.ErrDisconnected))
		}
		r.env.Events.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("%s: the connection was lost, as expected", r.env.Source)})
		return r.cleanup(ctx, remotePath)
	default:
		return r.wrap(s, err)
	}
	if !r.cfg.ValidExit(exit.Status) {
		return r.wrap(s, exit)
	}
	return nil
}

// withCleanup makes cmdline remove the script once it has run, keeping its
// exit status, unless skip_clean: one round trip fewer per script than a
// separate rm. The command runs in a subshell, between newlines, so that an
// exit or a trailing comment in execute_command cannot skip the removal.
// Only a lost connection (a reboot) needs the separate cleanup.
func (r *runner) withCleanup(cmdline, remotePath string) string {
	if r.cfg.SkipClean {
		return cmdline
	}
	return "(\n" + cmdline + "\n)\nkiln_status=$?\nrm -f " + shellrun.Quote(remotePath) + "\nexit $kiln_status"
}

// label names s in messages: "script NAME", or "inline script".
func (s script) label() string {
	if s.name == "inline" {
		return "inline script"
	}
	return "script " + s.name
}

// stopped is the error of a provisioner stopped by its context (cancelled,
// or past its timeout) while it worked on what. It is short and says only
// what stopped and why: never the command line, which carries the
// environment values, nor a communicator error that may quote it.
func stopped(ctx context.Context, what string) error {
	return fmt.Errorf("%s cancelled: %w", what, context.Cause(ctx))
}

// wrap names the script in err, unless it is the only (inline) one: the
// engine already names the block.
func (r *runner) wrap(s script, err error) error {
	if s.name == "inline" {
		return err
	}
	return fmt.Errorf("script %s: %w", s.name, err)
}

// cleanup removes the uploaded script unless skip_clean, retrying while the
// connection comes back (after an expected reboot).
func (r *runner) cleanup(ctx context.Context, remotePath string) error {
	if r.cfg.SkipClean {
		return nil
	}
	if err := r.retry(ctx, func(ctx context.Context) error { return r.rm(ctx, remotePath) }); err != nil {
		return fmt.Errorf("remove %s: %w", remotePath, err)
	}
	return nil
}

// cleanupAfterFailure removes the script once, best effort: the failure
// being reported matters more than a leftover file in /tmp.
func (r *runner) cleanupAfterFailure(ctx context.Context, remotePath string) {
	if !r.cfg.SkipClean {
		_ = r.rm(ctx, remotePath)
	}
}

// remove is cleanup for deferred use: its error becomes a warning.
func (r *runner) remove(ctx context.Context, remotePath string) {
	if err := r.cleanup(ctx, remotePath); err != nil {
		r.env.Events.Emit(&event.Message{Level: event.Warn, Text: fmt.Sprintf("%s: %v", r.env.Source, err)})
	}
}

func (r *runner) rm(ctx context.Context, remotePath string) error {
	return r.comm.Run(ctx, &communicator.Cmd{Command: "rm -f " + shellrun.Quote(remotePath)})
}

// retry calls f until it succeeds, fails with an error other than a lost
// connection, or start_retry_timeout has passed.
func (r *runner) retry(ctx context.Context, f func(context.Context) error) error {
	timeout := r.cfg.StartRetryTimeout
	if timeout <= 0 {
		timeout = DefaultStartRetryTimeout
	}
	deadline := time.Now().Add(timeout)
	delay := retryFirstDelay
	for {
		err := f(ctx)
		if err == nil || !errors.Is(err, communicator.ErrDisconnected) || time.Now().Add(delay).After(deadline) {
			return err
		}
		if serr := clock.Sleep(ctx, delay); serr != nil {
			return errors.Join(err, serr)
		}
		delay = min(delay*2, retryCeiling)
	}
}

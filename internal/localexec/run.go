package localexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/compconf"
	"github.com/kilnhq/kiln/internal/shellrun"
)

// waitDelay bounds how long Run waits for output pipes held open by
// background processes after the command itself has exited or been killed.
const waitDelay = 5 * time.Second

// Env is what Run needs to know about the build.
type Env struct {
	Events event.Sink
	// Source names the block, for output and messages.
	Source string
	// Info describes the build: its source name and type become
	// PACKER_BUILD_NAME and PACKER_BUILDER_TYPE.
	Info builder.Info
	// Data holds values for legacy {{ .Name }} strings.
	Data map[string]string
}

// Run runs the configured commands locally, one script after another.
func (c *Config) Run(ctx context.Context, env Env) error {
	if len(c.OnlyOn) > 0 && !slices.Contains(c.OnlyOn, runtime.GOOS) {
		env.Events.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("%s: skipped: only_on does not include %s", env.Source, runtime.GOOS)})
		return nil
	}
	render := compconf.Legacy(env.Info, env.Data)
	vars, err := c.Vars(map[string]string{"PACKER_BUILD_NAME": env.Info.SourceName, "PACKER_BUILDER_TYPE": env.Info.Type}, render)
	if err != nil {
		return err
	}
	flat := shellrun.Flatten(vars, c.EnvVarFormat)

	scripts := c.ScriptPaths()
	if len(c.Inline) > 0 {
		tmp, err := c.writeInline(render)
		if err != nil {
			return err
		}
		defer os.Remove(tmp)
		scripts = []string{tmp}
	}
	argv := c.ExecuteCommand
	if len(argv) == 0 {
		argv = DefaultExecuteCommand
	}
	for _, s := range scripts {
		abs, err := filepath.Abs(s)
		if err != nil {
			return err
		}
		render := compconf.Legacy(env.Info, compconf.With(env.Data, "Vars", flat, "Script", abs, "Command", abs))
		args := make([]string, len(argv))
		for i, a := range argv {
			if args[i], err = render(a); err != nil {
				return fmt.Errorf("execute_command: %w", err)
			}
		}
		if len(c.Inline) == 0 {
			env.Events.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("%s: running local script %s", env.Source, s)})
		}
		if err := c.run(ctx, env, args); err != nil {
			if len(c.Inline) == 0 {
				return fmt.Errorf("script %s: %w", s, err)
			}
			return err
		}
	}
	return nil
}

// writeInline writes the inline commands to an executable temporary script.
func (c *Config) writeInline(render shellrun.Render) (string, error) {
	data, err := c.InlineScript(render)
	if err != nil {
		return "", err
	}
	pattern := "kiln-shell-local-*"
	if c.TempfileExtension != "" {
		pattern += "." + trimDot(c.TempfileExtension)
	}
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("write inline script: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), 0o700)); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write inline script: %w", err)
	}
	return f.Name(), nil
}

func trimDot(ext string) string {
	if len(ext) > 0 && ext[0] == '.' {
		return ext[1:]
	}
	return ext
}

// ExitError reports a local command whose exit status is not valid.
type ExitError struct {
	Status int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Status) }

// run runs one command and checks its exit status.
func (c *Config) run(ctx context.Context, env Env, args []string) error {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	stdout := shellrun.NewLineWriter(env.Events, env.Source, "stdout")
	stderr := shellrun.NewLineWriter(env.Events, env.Source, "stderr")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	ownProcessGroup(cmd)
	err := cmd.Run()
	stdout.Flush()
	stderr.Flush()
	if ctx.Err() != nil {
		return fmt.Errorf("run %s: %w", args[0], ctx.Err())
	}
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		if !ee.Exited() {
			return fmt.Errorf("run %s: %w", args[0], err)
		}
		code = ee.ExitCode()
	case err != nil:
		return fmt.Errorf("run %s: %w", args[0], err)
	}
	if !c.ValidExit(code) {
		return &ExitError{Status: code}
	}
	return nil
}

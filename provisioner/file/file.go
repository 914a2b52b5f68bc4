package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/compconf"
	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/kilnhq/kiln/internal/shellrun"
	"github.com/kilnhq/kiln/provisioner"
)

// ContentFile is the file name content is written to when the destination is
// a directory (ends with "/"), as in Packer.
const ContentFile = "pkr-file-content"

// Config is the file provisioner's configuration.
type Config struct {
	// Source and Sources are local paths to upload, or remote paths to
	// download. A directory without a trailing slash is copied itself into
	// Destination; with one, its contents are.
	Source  string   `hcl:"source,optional"`
	Sources []string `hcl:"sources,optional"`
	// Content is uploaded as the destination file's contents.
	Content     string `hcl:"content,optional"`
	Destination string `hcl:"destination"`
	// Direction is "upload" (the default) or "download".
	Direction string `hcl:"direction,optional"`
	// Generated sources may not exist until the build runs.
	Generated bool `hcl:"generated,optional"`
}

// Provisioner moves files to or from the machine.
type Provisioner struct {
	cfg Config
}

var _ provisioner.Factory = New

// New decodes a file provisioner block.
func New(body hcl.Body, ectx *hcl.EvalContext) (provisioner.Provisioner, hcl.Diagnostics) {
	var cfg Config
	diags := hclconf.Decode(body, ectx, &cfg)
	if diags.HasErrors() {
		return nil, diags
	}
	attrs := compconf.BodyAttrs(body, "source", "sources", "content", "direction", "destination")
	switch cfg.Direction {
	case "", "upload", "download":
	default:
		diags = append(diags, attrs.Error("direction", "Invalid direction", fmt.Sprintf("direction must be \"upload\" or \"download\", not %q.", cfg.Direction)))
	}
	hasSource := attrs.Has("source") || attrs.Has("sources")
	switch {
	case attrs.Has("content") && hasSource:
		diags = append(diags, attrs.Error("content", "Conflicting arguments", "content cannot be set together with source or sources."))
	case attrs.Has("content") && cfg.Direction == "download":
		diags = append(diags, attrs.Error("content", "Conflicting arguments", "content can only be uploaded; remove direction = \"download\" or set source."))
	case !attrs.Has("content") && !hasSource:
		diags = append(diags, attrs.Error("", "Nothing to copy", "Set source, sources or content."))
	}
	if len(cfg.sources()) > 1 && cfg.Destination != "" && !strings.HasSuffix(cfg.Destination, "/") {
		diags = append(diags, attrs.Error("destination", "Destination must be a directory",
			"With several sources, end destination with \"/\": each source is copied into it under its own name."))
	}
	if cfg.Direction != "download" && !cfg.Generated {
		for _, src := range cfg.sources() {
			if _, err := os.Stat(src); err != nil {
				name := "sources"
				if src == cfg.Source {
					name = "source"
				}
				diags = append(diags, attrs.Error(name, "Source not found", fmt.Sprintf("Cannot read %q: %v. Set generated = true if an earlier step creates it.", src, err)))
			}
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return &Provisioner{cfg: cfg}, diags
}

// sources returns Sources then Source, as Packer combines them.
func (c *Config) sources() []string {
	out := append([]string(nil), c.Sources...)
	if c.Source != "" {
		out = append(out, c.Source)
	}
	return out
}

// Provision copies every source.
func (p *Provisioner) Provision(ctx context.Context, env *provisioner.Env, comm communicator.Communicator) error {
	render := compconf.Legacy(env.Info, env.Data)
	dst, err := render(p.cfg.Destination)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	t := &transfer{env: env, comm: comm}
	if p.cfg.Source == "" && len(p.cfg.Sources) == 0 {
		if strings.HasSuffix(dst, "/") {
			dst += ContentFile
		}
		return t.uploadContent(ctx, []byte(p.cfg.Content), dst)
	}
	for _, src := range p.cfg.sources() {
		if src, err = render(src); err != nil {
			return fmt.Errorf("source: %w", err)
		}
		if p.cfg.Direction == "download" {
			err = t.download(ctx, src, dst)
		} else {
			err = t.upload(ctx, src, dst)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// transfer moves files for one Provision call.
type transfer struct {
	env  *provisioner.Env
	comm communicator.Communicator
}

func (t *transfer) say(format string, args ...any) {
	t.env.Events.Emit(&event.Message{Level: event.Info, Text: t.env.Source + ": " + fmt.Sprintf(format, args...)})
}

// upload copies the local src to the remote dst with the trailing-slash
// rules: a file into a dst ending in "/" keeps its name; a directory
// without a trailing slash lands in dst/NAME, with one its contents land in
// dst.
func (t *transfer) upload(ctx context.Context, src, dst string) error {
	info, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("upload %s: %w", src, err)
	}
	if info.IsDir() {
		target := dst
		if !strings.HasSuffix(src, "/") && !strings.HasSuffix(src, string(filepath.Separator)) {
			target = path.Join(dst, filepath.Base(src))
		}
		t.say("uploading directory %s => %s", src, target)
		if err := t.uploadDir(ctx, src, target); err != nil {
			return fmt.Errorf("upload directory %s to %s: %w", src, target, err)
		}
		return nil
	}
	target := dst
	if strings.HasSuffix(dst, "/") {
		target = dst + filepath.Base(src)
	}
	t.say("uploading %s => %s", src, target)
	if err := t.uploadFile(ctx, src, target, info, nil); err != nil {
		if errors.Is(err, communicator.ErrDisconnected) || strings.HasSuffix(dst, "/") {
			return fmt.Errorf("upload %s to %s: %w", src, target, err)
		}
		return fmt.Errorf("upload %s to %s (if %s is a directory, end destination with \"/\"): %w", src, target, target, err)
	}
	return nil
}

// download copies the remote src to the local dst with the same rules as
// upload. A remote directory is recognised by a trailing slash or by asking
// the machine.
func (t *transfer) download(ctx context.Context, src, dst string) error {
	isDir := strings.HasSuffix(src, "/")
	if !isDir {
		var err error
		if isDir, err = t.remoteIsDir(ctx, src); err != nil {
			return fmt.Errorf("download %s: %w", src, err)
		}
	}
	if isDir {
		target := dst
		if !strings.HasSuffix(src, "/") {
			target = filepath.Join(dst, path.Base(src))
		}
		t.say("downloading directory %s => %s", src, target)
		if err := t.downloadDir(ctx, src, target); err != nil {
			return fmt.Errorf("download directory %s to %s: %w", src, target, err)
		}
		return nil
	}
	target := dst
	if strings.HasSuffix(dst, "/") || strings.HasSuffix(dst, string(filepath.Separator)) || localIsDir(dst) {
		target = filepath.Join(dst, path.Base(src))
	}
	t.say("downloading %s => %s", src, target)
	if err := t.downloadFile(ctx, src, target); err != nil {
		return fmt.Errorf("download %s to %s: %w", src, target, err)
	}
	return nil
}

// localIsDir reports whether the local path p is an existing directory: a file
// downloaded there keeps its name instead of failing.
func localIsDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// remoteIsDir asks the machine whether p is a directory.
func (t *transfer) remoteIsDir(ctx context.Context, p string) (bool, error) {
	err := t.comm.Run(ctx, &communicator.Cmd{Command: "test -d " + shellrun.Quote(p)})
	var exit *communicator.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && exit.Status == 1:
		return false, nil
	}
	return false, fmt.Errorf("check whether it is a directory: %w", err)
}

package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/compconf"
	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/kilnhq/kiln/postprocessor"
)

// DefaultOutput is the manifest's file name when output is not set.
const DefaultOutput = "packer-manifest.json"

// NullArtifactID is recorded for a build that made no artifact (the null
// builder), as Packer's null builder reports it.
const NullArtifactID = "Null"

// Config is the manifest post-processor's configuration.
type Config struct {
	Output     string            `hcl:"output,optional"`
	StripPath  bool              `hcl:"strip_path,optional"`
	StripTime  bool              `hcl:"strip_time,optional"`
	CustomData map[string]string `hcl:"custom_data,optional"`
}

// Manifest is the file's contents.
type Manifest struct {
	Builds      []Build `json:"builds"`
	LastRunUUID string  `json:"last_run_uuid"`
}

// Build is one build's record.
type Build struct {
	Name        string `json:"name"`
	BuilderType string `json:"builder_type"`
	// BuildTime is a Unix time; left out with strip_time.
	BuildTime     int64             `json:"build_time,omitempty"`
	Files         []File            `json:"files"`
	ArtifactID    string            `json:"artifact_id"`
	PackerRunUUID string            `json:"packer_run_uuid"`
	CustomData    map[string]string `json:"custom_data"`
}

// File is one file of an artifact.
type File struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// PostProcessor writes the manifest.
type PostProcessor struct {
	cfg Config
}

var _ postprocessor.Factory = New

// New decodes a manifest post-processor block.
func New(body hcl.Body, ectx *hcl.EvalContext) (postprocessor.PostProcessor, hcl.Diagnostics) {
	var cfg Config
	diags := hclconf.Decode(body, ectx, &cfg)
	if diags.HasErrors() {
		return nil, diags
	}
	diags = append(diags, compconf.BodyAttrs(body, "output").CheckSyntax("output", cfg.Output)...)
	if diags.HasErrors() {
		return nil, diags
	}
	return &PostProcessor{cfg: cfg}, diags
}

// PostProcess records in and returns it unchanged, kept: the manifest never
// causes the artifact it records to be deleted.
func (p *PostProcessor) PostProcess(ctx context.Context, env *postprocessor.Env, in artifact.Artifact) (artifact.Artifact, bool, error) {
	data := map[string]string{}
	if s, ok := in.(artifact.Stater); ok {
		if gd, ok := s.State("generated_data").(map[string]string); ok {
			for k, v := range gd {
				data[k] = v
			}
		}
	}
	data["BuildName"], data["BuilderType"] = env.Info.SourceName, env.Info.Type
	render := compconf.Legacy(env.Info, data)

	b := Build{
		Name:          env.Info.SourceName,
		BuilderType:   env.Info.Type,
		ArtifactID:    NullArtifactID,
		PackerRunUUID: env.Info.RunID,
	}
	if !p.cfg.StripTime {
		b.BuildTime = time.Now().Unix()
	}
	if in != nil {
		b.ArtifactID = in.ID()
		for _, name := range in.Files() {
			f := File{Name: name}
			if fi, err := os.Stat(name); err == nil {
				f.Size = fi.Size()
			}
			if p.cfg.StripPath {
				f.Name = filepath.Base(name)
			}
			b.Files = append(b.Files, f)
		}
	}
	if p.cfg.CustomData != nil {
		b.CustomData = make(map[string]string, len(p.cfg.CustomData))
		for k, v := range p.cfg.CustomData {
			r, err := render(v)
			if err != nil {
				return nil, false, fmt.Errorf("custom_data %s: %w", k, err)
			}
			b.CustomData[k] = r
		}
	}
	output := p.cfg.Output
	if output == "" {
		output = DefaultOutput
	}
	output, err := render(output)
	if err != nil {
		return nil, false, fmt.Errorf("output: %w", err)
	}
	if err := Append(ctx, output, b.redacted(env.Secrets), env.Info.RunID, env.Force); err != nil {
		return nil, false, err
	}
	return in, true, nil
}

// redacted returns b with every secret in its strings replaced by
// event.Redacted: a manifest is read by scripts and kept as a CI artifact.
func (b Build) redacted(secrets []string) Build {
	red := func(s string) string { return event.RedactString(s, secrets) }
	b.Name, b.BuilderType, b.ArtifactID = red(b.Name), red(b.BuilderType), red(b.ArtifactID)
	if b.Files != nil {
		files := make([]File, len(b.Files))
		for i, f := range b.Files {
			files[i] = File{Name: red(f.Name), Size: f.Size}
		}
		b.Files = files
	}
	if b.CustomData != nil {
		data := make(map[string]string, len(b.CustomData))
		for k, v := range b.CustomData {
			data[red(k)] = red(v)
		}
		b.CustomData = data
	}
	return b
}

// inProcess holds one mutex per absolute manifest path: flock does not
// exclude goroutines of one process that open the lock file separately.
var inProcess sync.Map

// Append adds b to the manifest at path under runID, creating the file if
// needed. With force, a manifest last written by another run is replaced.
// Concurrent calls, in this process or others, never lose a build.
func Append(ctx context.Context, path string, b Build, runID string, force bool) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", path, err)
	}
	mu, _ := inProcess.LoadOrStore(abs, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("manifest %s: %w", path, err)
	}
	unlock, err := lockFile(ctx, abs+".lock")
	if err != nil {
		return fmt.Errorf("lock manifest %s: %w", path, err)
	}
	defer unlock()

	var m Manifest
	mode := fs.FileMode(0o644)
	raw, err := os.ReadFile(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read manifest %s: %w", path, err)
	default:
		if fi, err := os.Stat(abs); err == nil {
			mode = fi.Mode().Perm()
		}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &m); err != nil {
				return fmt.Errorf("manifest %s is not valid JSON (fix or remove it): %w", path, err)
			}
		}
	}
	if force && m.LastRunUUID != runID {
		m = Manifest{}
	}
	m.Builds = append(m.Builds, b)
	m.LastRunUUID = runID
	out, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := writeAtomic(abs, append(out, '\n'), mode); err != nil {
		return fmt.Errorf("write manifest %s: %w", path, err)
	}
	return nil
}

// writeAtomic replaces path with data: a reader sees the old file or the new
// one, never a part.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Chmod(mode), f.Sync(), f.Close()); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

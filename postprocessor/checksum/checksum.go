package checksum

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/internal/compconf"
	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/kilnhq/kiln/postprocessor"
)

// DefaultOutput names the checksum file, as Packer's default.
const DefaultOutput = "packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum"

// hashes are the supported checksum types.
var hashes = map[string]func() hash.Hash{
	"md5":    md5.New,
	"sha1":   sha1.New,
	"sha224": sha256.New224,
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
}

// Config is the checksum post-processor's configuration.
type Config struct {
	// ChecksumTypes default to ["md5"], as in Packer.
	ChecksumTypes []string `hcl:"checksum_types,optional"`
	// Output is a Go template with .BuildName, .BuilderType and
	// .ChecksumType.
	Output string `hcl:"output,optional"`
}

// PostProcessor writes checksum files.
type PostProcessor struct {
	cfg Config
}

var _ postprocessor.Factory = New

// New decodes a checksum post-processor block.
func New(body hcl.Body, ectx *hcl.EvalContext) (postprocessor.PostProcessor, hcl.Diagnostics) {
	var cfg Config
	diags := hclconf.Decode(body, ectx, &cfg)
	if diags.HasErrors() {
		return nil, diags
	}
	attrs := compconf.BodyAttrs(body, "checksum_types", "output")
	for _, ct := range cfg.ChecksumTypes {
		if hashes[ct] == nil {
			diags = append(diags, attrs.Error("checksum_types", "Unknown checksum type",
				fmt.Sprintf("%q is not a checksum type kiln knows; use %s.", ct, strings.Join(slices.Sorted(maps.Keys(hashes)), ", "))))
		}
	}
	diags = append(diags, attrs.CheckSyntax("output", cfg.Output)...)
	if diags.HasErrors() {
		return nil, diags
	}
	return &PostProcessor{cfg: cfg}, diags
}

// Artifact is what the checksum post-processor returns: the input files and
// the checksum files.
type Artifact struct {
	files []string
}

// BuilderType returns "checksum".
func (a *Artifact) BuilderType() string { return "checksum" }

// ID is empty, as for Packer's checksum artifact.
func (a *Artifact) ID() string { return "" }

// Files returns the input files, then the checksum files.
func (a *Artifact) Files() []string { return a.files }

func (a *Artifact) String() string {
	return "Created artifact from files: " + strings.Join(a.files, ", ")
}

// PostProcess checksums every file of in.
func (p *PostProcessor) PostProcess(ctx context.Context, env *postprocessor.Env, in artifact.Artifact) (artifact.Artifact, bool, error) {
	if in == nil || len(in.Files()) == 0 {
		what := "the build made no artifact"
		if in != nil {
			what = fmt.Sprintf("the %s artifact %q has no local files", in.BuilderType(), in.ID())
		}
		return nil, false, fmt.Errorf("nothing to checksum: %s; checksum works on artifacts made of files (such as qemu's disk image)", what)
	}
	types := p.cfg.ChecksumTypes
	if len(types) == 0 {
		types = []string{"md5"}
	}
	output := p.cfg.Output
	if output == "" {
		output = DefaultOutput
	}
	data := map[string]string{}
	if s, ok := in.(artifact.Stater); ok {
		if gd, ok := s.State("generated_data").(map[string]string); ok {
			for k, v := range gd {
				data[k] = v
			}
		}
	}
	data["BuildName"], data["BuilderType"] = env.Info.SourceName, env.Info.Type

	out := &Artifact{files: slices.Clone(in.Files())}
	for _, file := range in.Files() {
		sums, err := digest(ctx, file, types)
		if err != nil {
			return nil, false, err
		}
		for i, ct := range types {
			data["ChecksumType"] = ct
			target, err := compconf.Legacy(env.Info, data)(output)
			if err != nil {
				return nil, false, fmt.Errorf("output: %w", err)
			}
			if err := appendLine(target, fmt.Sprintf("%x\t%s\n", sums[i], filepath.Base(file))); err != nil {
				return nil, false, err
			}
			if !slices.Contains(out.files, target) {
				out.files = append(out.files, target)
			}
		}
	}
	return out, true, nil
}

// digest reads file once and returns its sum for each type.
func digest(ctx context.Context, file string, types []string) ([][]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("checksum %s: %w", file, err)
	}
	defer f.Close()
	hs := make([]hash.Hash, len(types))
	ws := make([]io.Writer, len(types))
	for i, ct := range types {
		hs[i] = hashes[ct]()
		ws[i] = hs[i]
	}
	// Read in chunks, checking ctx between them: disk images are large.
	w := io.MultiWriter(ws...)
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("checksum %s: %w", file, err)
		}
		n, err := f.Read(buf)
		w.Write(buf[:n]) // hashes never fail
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("checksum %s: %w", file, err)
		}
	}
	sums := make([][]byte, len(hs))
	for i, h := range hs {
		sums[i] = h.Sum(nil)
	}
	return sums, nil
}

// appendLine appends line to the checksum file at path in one write, so
// builds sharing a file do not interleave within a line.
func appendLine(path, line string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open checksum file: %w", err)
	}
	_, werr := f.WriteString(line)
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("write checksum file %s: %w", path, err)
	}
	return nil
}

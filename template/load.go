package template

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/zclconf/go-cty/cty"
)

// File name suffixes the loader reads.
var (
	templateSuffixes = []string{".pkr.hcl", ".kiln.hcl", ".pkr.json", ".kiln.json"}
	autoVarSuffixes  = []string{".auto.pkrvars.hcl", ".auto.pkrvars.json"}
)

// LoadOption adjusts how Load reads a template.
type LoadOption func(*loadConfig)

type loadConfig struct {
	vars       []string
	varFiles   []string
	env        []string
	envSet     bool
	now        time.Time
	plugins    []string
	syntaxOnly bool
	// dataSources decodes data blocks (WithDataSources).
	dataSources DataSources
}

// WithVars sets variables from "name=value" assignments, as -var does; later
// assignments win.
func WithVars(assignments ...string) LoadOption {
	return func(c *loadConfig) { c.vars = append(c.vars, assignments...) }
}

// WithVarFiles reads variable values from files, as -var-file does; later
// files win over earlier ones and over *.auto.pkrvars.hcl files.
func WithVarFiles(paths ...string) LoadOption {
	return func(c *loadConfig) { c.varFiles = append(c.varFiles, paths...) }
}

// WithEnviron sets the environment ("KEY=value" entries) that PKR_VAR_ and
// KILN_VAR_ variables and env() read; the default is os.Environ().
func WithEnviron(env []string) LoadOption {
	return func(c *loadConfig) { c.env, c.envSet = env, true }
}

// WithNow sets the run's timestamp, which timestamp() and legacy
// {{ timestamp }} return; the default is the time Load is called.
func WithNow(now time.Time) LoadOption {
	return func(c *loadConfig) { c.now = now }
}

// WithEmbeddedPlugins names the plugin sources (such as
// "github.com/hashicorp/amazon") whose components kiln embeds, so that a
// packer { required_plugins } entry for them is satisfied.
func WithEmbeddedPlugins(sources ...string) LoadOption {
	return func(c *loadConfig) { c.plugins = append(c.plugins, sources...) }
}

// WithSyntaxOnly parses the files and checks the declarations in them, as
// Packer's validate -syntax-only does: nothing is evaluated but variable
// defaults, and component bodies are not decoded.
func WithSyntaxOnly() LoadOption {
	return func(c *loadConfig) { c.syntaxOnly = true }
}

var rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "packer"},
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "variables"},
	{Type: "locals"},
	{Type: "local", LabelNames: []string{"name"}},
	{Type: "data", LabelNames: []string{"type", "name"}},
	{Type: "source", LabelNames: []string{"type", "name"}},
	{Type: "build"},
	{Type: "hcp_packer_registry"},
}}

// loader holds the state of one Load call.
type loader struct {
	cfg    loadConfig
	parser *hclparse.Parser
	t      *Template
	// vars holds what the loader needs about each variable beyond Variable.
	vars map[string]*varDecl
	// refused holds the files read but not parsed (nested too deeply), so
	// that diagnostics about them show snippets.
	refused map[string]*hcl.File
	// hcpBlocks are the hcp_packer_registry blocks decoded so far.
	hcpBlocks hcl.Blocks
	// missingPlugins are the required plugins kiln does not embed.
	missingPlugins []missingPlugin
}

// Load reads a template from path: one file, or every *.pkr.hcl, *.kiln.hcl,
// *.pkr.json and *.kiln.json file of a directory (not its subdirectories).
// It reports every problem it finds at once, in source order (file, line,
// column; those without a range last). The returned Template is never
// nil: even when loading fails it holds the parsed files, so that
// WriteDiagnostics can show snippets. It returns at most MaxDiagnostics
// diagnostics, the last counting those left out.
func Load(path string, opts ...LoadOption) (*Template, hcl.Diagnostics) {
	t, diags := loadUncapped(path, opts...)
	return t, capDiagnostics(diags)
}

func loadUncapped(path string, opts ...LoadOption) (*Template, hcl.Diagnostics) {
	cfg := loadConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.envSet {
		cfg.env = os.Environ()
	}
	if cfg.now.IsZero() {
		cfg.now = time.Now()
	}
	cwd, _ := os.Getwd()
	l := &loader{
		cfg:    cfg,
		parser: hclparse.NewParser(),
		t: &Template{
			Now:       cfg.now,
			Variables: map[string]*Variable{},
			Locals:    map[string]*Local{},
			Data:      map[DataRef]*Data{},
			Sources:   map[SourceRef]*Source{},
			cwd:       cwd,
			env:       cfg.env,
		},
		vars: map[string]*varDecl{},
	}
	defer func() { l.t.Files = l.files() }()
	l.t.IterationID = newUUID()
	l.t.funcs = l.t.functions(false)

	files, autoVarFiles, diags := l.findFiles(path)
	if diags.HasErrors() {
		return l.t, diags
	}
	var bodies []hcl.Body
	for _, name := range files {
		f, d := l.parseFile(name)
		diags = append(diags, d...)
		if f != nil {
			bodies = append(bodies, f.Body)
		}
	}
	var blocks hcl.Blocks
	for _, body := range bodies {
		content, d := body.Content(rootSchema)
		diags = append(diags, d...)
		if content != nil {
			blocks = append(blocks, content.Blocks...)
		}
	}
	byType := map[string]hcl.Blocks{}
	for _, b := range blocks {
		byType[b.Type] = append(byType[b.Type], b)
	}

	if cfg.syntaxOnly {
		return l.t, hclconf.SortBySource(append(diags, l.checkDeclarations(byType)...))
	}

	for _, b := range byType["packer"] {
		diags = append(diags, l.decodePackerBlock(b)...)
	}
	diags = append(diags, l.declareVariables(byType["variable"], byType["variables"])...)
	diags = append(diags, l.assignVariables(autoVarFiles)...)
	diags = append(diags, l.finishVariables()...)
	values := valueBlocks{locals: byType["locals"], local: byType["local"], data: byType["data"]}
	diags = append(diags, l.decodeValues(context.Background(), false, values)...)
	l.t.base = l.t.baseVariables()
	for _, b := range byType["source"] {
		diags = append(diags, l.decodeSource(b)...)
	}
	for _, b := range byType["build"] {
		diags = append(diags, l.decodeBuild(b)...)
	}
	diags = append(diags, l.checkHCPRegistries(byType["hcp_packer_registry"])...)
	diags = append(diags, l.checkMissingPlugins()...)
	if len(values.data) > 0 {
		l.t.pending = &pendingData{l: l, values: values, builds: byType["build"], reported: map[string]bool{}}
		for _, d := range diags {
			l.t.pending.reported[diagKey(d)] = true
		}
	}
	return l.t, hclconf.SortBySource(diags)
}

// findFiles lists the template files and the auto var files to read.
func (l *loader) findFiles(path string) (files, autoVars []string, diags hcl.Diagnostics) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read template",
			Detail:   err.Error(),
		}}
	}
	if !fi.IsDir() {
		l.t.Root = filepath.Dir(path)
		return []string{path}, nil, nil
	}
	l.t.Root = path
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read template directory",
			Detail:   err.Error(),
		}}
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		switch {
		case hasSuffix(name, templateSuffixes):
			files = append(files, filepath.Join(path, name))
		case hasSuffix(name, autoVarSuffixes):
			autoVars = append(autoVars, filepath.Join(path, name))
		}
	}
	sort.Strings(files)
	sort.Strings(autoVars)
	if len(files) == 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No template files",
			Detail: fmt.Sprintf("The directory %s has no file ending in %s.",
				path, strings.Join(templateSuffixes, ", ")),
		})
	}
	return files, autoVars, diags
}

func hasSuffix(name string, suffixes []string) bool {
	for _, s := range suffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// parseFile parses an HCL or JSON file, chosen by its extension. It reads
// only a regular file of at most MaxTemplateFileSize bytes, and parses only
// one that nests at most MaxNestingDepth levels deep.
func (l *loader) parseFile(name string) (*hcl.File, hcl.Diagnostics) {
	src, err := ReadFile(name)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read file",
			Detail:   err.Error() + ".",
		}}
	}
	json := strings.HasSuffix(name, ".json")
	var d *hcl.Diagnostic
	if json {
		d = checkJSONNesting(src, name)
	} else {
		d = checkNesting(src, name, scanConfig)
	}
	if d != nil {
		if l.refused == nil {
			l.refused = map[string]*hcl.File{}
		}
		l.refused[name] = &hcl.File{Bytes: src}
		return nil, hcl.Diagnostics{d}
	}
	if json {
		return l.parser.ParseJSON(src, name)
	}
	return l.parser.ParseHCL(src, name)
}

// files returns the files the loader parsed and those it refused to parse.
func (l *loader) files() map[string]*hcl.File {
	parsed := l.parser.Files()
	if len(l.refused) == 0 {
		return parsed
	}
	all := make(map[string]*hcl.File, len(parsed)+len(l.refused))
	maps.Copy(all, parsed)
	maps.Copy(all, l.refused)
	return all
}

// evalContext is the context for expressions outside builds: variables,
// locals, path, packer and the functions.
func (t *Template) evalContext() *hcl.EvalContext {
	return &hcl.EvalContext{Variables: t.base, Functions: t.funcs}
}

// baseVariables returns the variables every expression may use.
func (t *Template) baseVariables() map[string]cty.Value {
	vars := make(map[string]cty.Value, len(t.Variables))
	for name, v := range t.Variables {
		vars[name] = v.Value
	}
	locals := make(map[string]cty.Value, len(t.Locals))
	for name, lv := range t.Locals {
		locals[name] = lv.Value
	}
	return map[string]cty.Value{
		"var":    cty.ObjectVal(vars),
		"local":  cty.ObjectVal(locals),
		"data":   t.dataValue(),
		"path":   t.pathValue(),
		"packer": t.packerValue(),
	}
}

func (t *Template) pathValue() cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"root": cty.StringVal(t.Root),
		"cwd":  cty.StringVal(t.cwd),
	})
}

// EvalContext returns the context for expressions of a build's components:
// var.*, local.*, path.root, path.cwd, packer.version, source.name and
// source.type of s, build.* from buildData and every function. b (the build
// the component belongs to) and s may be nil. When s is nil, source is an unknown value; when buildData is nil,
// build is an unknown value, so that validation passes before a build runs.
func (t *Template) EvalContext(b *Build, s *BuildSource, buildData map[string]string) *hcl.EvalContext {
	base := t.base
	if base == nil {
		base = t.baseVariables()
	}
	vars := make(map[string]cty.Value, len(base)+2)
	for k, v := range base {
		vars[k] = v
	}
	if s != nil {
		vars["source"] = cty.ObjectVal(map[string]cty.Value{
			"name": cty.StringVal(s.Name),
			"type": cty.StringVal(s.Ref.Type),
		})
	} else {
		vars["source"] = cty.UnknownVal(sourceType)
	}
	if buildData != nil {
		m := make(map[string]cty.Value, len(buildData))
		for k, v := range buildData {
			m[k] = cty.StringVal(v)
		}
		vars["build"] = cty.ObjectVal(m)
	} else {
		vars["build"] = cty.DynamicVal
	}
	funcs := t.funcs
	if funcs == nil {
		funcs = t.functions(false)
	}
	return &hcl.EvalContext{Variables: vars, Functions: funcs}
}

var sourceType = cty.Object(map[string]cty.Type{"name": cty.String, "type": cty.String})

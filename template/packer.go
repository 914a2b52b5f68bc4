package template

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// PackerVersion is the Packer release whose template language kiln reads:
// packer { required_version } is checked against it, and packer.version
// returns it. kiln's own version is reported apart from it (kiln version,
// the manifest, lineage tags).
const PackerVersion = "1.16.0"

// fingerprintEnv is the variable with which Packer's users set the version
// fingerprint of a build.
const fingerprintEnv = "HCP_PACKER_BUILD_FINGERPRINT"

// packerValue is the packer object of expressions: version (PackerVersion),
// iterationID (the run's IterationID) and versionFingerprint
// (HCP_PACKER_BUILD_FINGERPRINT from the template's environment when set, as
// Packer lets it be set, otherwise the run's IterationID: kiln talks to no
// HCP Packer registry, and every run is a new version). Both IDs are unknown
// in a Template that Load did not make, so that validation still passes.
func (t *Template) packerValue() cty.Value {
	id := cty.UnknownVal(cty.String)
	if t.IterationID != "" {
		id = cty.StringVal(t.IterationID)
	}
	fingerprint := id
	if fp := t.getenv(fingerprintEnv); fp != "" {
		fingerprint = cty.StringVal(fp)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"version":            cty.StringVal(PackerVersion),
		"iterationID":        id,
		"versionFingerprint": fingerprint,
	})
}

// getenv returns the value of name in the template's environment; the last
// entry wins, as in os.Getenv.
func (t *Template) getenv(name string) string {
	prefix := name + "="
	val := ""
	for _, kv := range t.env {
		if v, ok := strings.CutPrefix(kv, prefix); ok {
			val = v
		}
	}
	return val
}

var packerSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "required_version"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "required_plugins"}},
}

// decodePackerBlock checks required_version against PackerVersion and each
// required plugin against the plugins kiln embeds.
func (l *loader) decodePackerBlock(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(packerSchema)
	if attr, ok := content.Attributes["required_version"]; ok {
		var s string
		d := decodeString(attr, nil, &s)
		diags = append(diags, d...)
		if !d.HasErrors() {
			diags = append(diags, checkVersion(s, attr.Expr.Range())...)
		}
	}
	embedded := map[string]bool{}
	for _, p := range l.cfg.plugins {
		embedded[normalizePluginSource(p)] = true
	}
	for _, rp := range content.Blocks {
		attrs, d := rp.Body.JustAttributes()
		diags = append(diags, d...)
		for _, attr := range sortedAttributes(attrs) {
			source, d := checkPlugin(attr)
			diags = append(diags, d...)
			if source != "" && !embedded[normalizePluginSource(source)] {
				l.missingPlugins = append(l.missingPlugins, missingPlugin{name: attr.Name, source: source, rng: attr.Expr.Range()})
			}
		}
	}
	return diags
}

// missingPlugin is a required_plugins entry for a plugin kiln does not embed.
type missingPlugin struct {
	name, source string
	rng          hcl.Range
}

// checkMissingPlugins reports each required plugin that kiln does not
// embed: an error when a component of the plugin (a type label that is the
// plugin's name or starts with it and a hyphen, as Packer names them) is
// used, a warning otherwise.
func (l *loader) checkMissingPlugins() hcl.Diagnostics {
	if len(l.missingPlugins) == 0 {
		return nil
	}
	have := make([]string, len(l.cfg.plugins))
	for i, p := range l.cfg.plugins {
		have[i] = normalizePluginSource(p)
	}
	slices.Sort(have)
	list := "none"
	if len(have) > 0 {
		list = strings.Join(slices.Compact(have), ", ")
	}
	used := l.componentsUsed()
	var diags hcl.Diagnostics
	for _, mp := range l.missingPlugins {
		i := slices.IndexFunc(used, func(c usedComponent) bool {
			return c.typ == mp.name || strings.HasPrefix(c.typ, mp.name+"-")
		})
		if i < 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  fmt.Sprintf("kiln lacks the plugin %s", mp.source),
				Detail: fmt.Sprintf("The template requires the plugin %q (%s), which kiln does not embed (embedded plugin sources: %s). "+
					"No component of it is used, so the entry is ignored.", mp.name, mp.source, list),
				Subject: mp.rng.Ptr(),
			})
			continue
		}
		c := used[i]
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("kiln lacks the plugin %s", mp.source),
			Detail: fmt.Sprintf("The template uses %s %q (%s) from the plugin %q (%s), but kiln runs no plugins: it embeds its components, "+
				"and none come from %s. Embedded plugin sources: %s.", c.kind, c.typ, c.rng, mp.name, mp.source, mp.source, list),
			Subject: mp.rng.Ptr(),
		})
	}
	return diags
}

// usedComponent is a component type label the template uses.
type usedComponent struct {
	kind, typ string
	rng       hcl.Range
}

// componentsUsed lists the component types of the template's sources, data
// blocks, provisioners and post-processors, in source order.
func (l *loader) componentsUsed() []usedComponent {
	var out []usedComponent
	for _, s := range l.t.Sources {
		out = append(out, usedComponent{"source", s.Type, s.TypeRange})
	}
	for _, d := range l.t.Data {
		out = append(out, usedComponent{"data source", d.Type, d.TypeRange})
	}
	for _, b := range l.t.Builds {
		provs := b.Provisioners
		if b.ErrorCleanupProvisioner != nil {
			provs = append(slices.Clip(provs), b.ErrorCleanupProvisioner)
		}
		for _, p := range provs {
			out = append(out, usedComponent{"provisioner", p.Type, p.TypeRange})
		}
		for _, chain := range b.PostProcessors {
			for _, pp := range chain {
				out = append(out, usedComponent{"post-processor", pp.Type, pp.TypeRange})
			}
		}
	}
	slices.SortFunc(out, func(a, b usedComponent) int {
		return cmp.Or(strings.Compare(a.rng.Filename, b.rng.Filename), cmp.Compare(a.rng.Start.Byte, b.rng.Start.Byte))
	})
	return out
}

func checkVersion(constraint string, rng hcl.Range) hcl.Diagnostics {
	c, err := version.NewConstraint(constraint)
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid required_version",
			Detail:   fmt.Sprintf("%q is not a version constraint: %s.", constraint, err),
			Subject:  rng.Ptr(),
		}}
	}
	if !c.Check(version.Must(version.NewVersion(PackerVersion))) {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unsupported Packer version",
			Detail: fmt.Sprintf("The template requires Packer %s; kiln reads templates as Packer %s does.",
				constraint, PackerVersion),
			Subject: rng.Ptr(),
		}}
	}
	return nil
}

// checkPlugin checks one required_plugins entry: { source = "...", version
// = "..." }, and returns its source ("" when the entry is invalid).
func checkPlugin(attr *hcl.Attribute) (string, hcl.Diagnostics) {
	val, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		return "", diags
	}
	invalid := hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid required_plugins entry",
		Detail:   fmt.Sprintf("Write %s = { source = \"github.com/OWNER/NAME\", version = \">= 1.0\" }.", attr.Name),
		Subject:  attr.Expr.Range().Ptr(),
	}}
	if !val.IsWhollyKnown() || val.IsNull() || !val.Type().IsObjectType() {
		return "", invalid
	}
	var source, constraint string
	for k, v := range val.AsValueMap() {
		if !v.Type().Equals(cty.String) || v.IsNull() {
			return "", invalid
		}
		switch k {
		case "source":
			source = v.AsString()
		case "version":
			constraint = v.AsString()
		default:
			return "", invalid
		}
	}
	if source == "" {
		return "", invalid
	}
	if msg := checkPluginSource(source); msg != "" {
		return "", hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid plugin source",
			Detail:   fmt.Sprintf("%q is not a plugin source: %s.", source, msg),
			Subject:  itemRange(attr.Expr, "source").Ptr(),
		}}
	}
	if constraint != "" {
		if _, err := version.NewConstraint(constraint); err != nil {
			return "", hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid plugin version constraint",
				Detail:   fmt.Sprintf("%q is not a version constraint: %s.", constraint, err),
				Subject:  attr.Expr.Range().Ptr(),
			}}
		}
	}
	return source, nil
}

// itemRange returns the range of the value of key in expr when expr is an
// object constructor that sets it, otherwise expr's range.
func itemRange(expr hcl.Expression, key string) hcl.Range {
	if obj, ok := expr.(*hclsyntax.ObjectConsExpr); ok {
		for _, item := range obj.Items {
			if hcl.ExprAsKeyword(item.KeyExpr) == key {
				return item.ValueExpr.Range()
			}
		}
	}
	return expr.Range()
}

// pluginPartRE is what a part of a plugin source may hold.
var pluginPartRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// checkPluginSource says what is wrong with a plugin source, as Packer
// checks it: HOST/NAMESPACE/NAME (such as github.com/hashicorp/amazon),
// where NAME does not repeat the packer-plugin- prefix of the repository.
// It returns "" for a good one.
func checkPluginSource(source string) string {
	parts := strings.Split(normalizePluginSource(source), "/")
	if len(parts) < 3 {
		return "write HOST/NAMESPACE/NAME, such as github.com/hashicorp/amazon"
	}
	for _, p := range parts {
		if !pluginPartRE.MatchString(p) {
			return fmt.Sprintf("the part %q is empty or holds characters other than letters, digits, dots, hyphens and underscores", p)
		}
	}
	if name := parts[len(parts)-1]; strings.HasPrefix(name, "packer-plugin-") {
		return fmt.Sprintf("name the plugin %q, without the packer-plugin- prefix of its repository", strings.TrimPrefix(name, "packer-plugin-"))
	}
	return ""
}

// normalizePluginSource lower-cases a plugin source and drops a scheme and a
// trailing slash.
func normalizePluginSource(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(s), "https://"), "http://")
	return strings.TrimSuffix(s, "/")
}

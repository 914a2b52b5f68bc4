package template

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gobwas/glob"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	ctyyaml "github.com/zclconf/go-cty-yaml"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// funcMap is the function table of an evaluation context.
type funcMap = map[string]function.Function

// stdFuncs are the functions that need nothing from the template.
var stdFuncs = funcMap{
	"abs":             stdlib.AbsoluteFunc,
	"can":             tryfunc.CanFunc,
	"ceil":            stdlib.CeilFunc,
	"chomp":           stdlib.ChompFunc,
	"chunklist":       stdlib.ChunklistFunc,
	"coalesce":        stdlib.CoalesceFunc,
	"coalescelist":    stdlib.CoalesceListFunc,
	"compact":         stdlib.CompactFunc,
	"concat":          stdlib.ConcatFunc,
	"contains":        stdlib.ContainsFunc,
	"csvdecode":       stdlib.CSVDecodeFunc,
	"distinct":        stdlib.DistinctFunc,
	"element":         stdlib.ElementFunc,
	"flatten":         stdlib.FlattenFunc,
	"floor":           stdlib.FloorFunc,
	"format":          stdlib.FormatFunc,
	"formatdate":      stdlib.FormatDateFunc,
	"formatlist":      stdlib.FormatListFunc,
	"indent":          stdlib.IndentFunc,
	"join":            stdlib.JoinFunc,
	"jsondecode":      stdlib.JSONDecodeFunc,
	"jsonencode":      stdlib.JSONEncodeFunc,
	"keys":            stdlib.KeysFunc,
	"length":          lengthFunc,
	"log":             stdlib.LogFunc,
	"lookup":          stdlib.LookupFunc,
	"lower":           stdlib.LowerFunc,
	"max":             stdlib.MaxFunc,
	"merge":           stdlib.MergeFunc,
	"min":             stdlib.MinFunc,
	"parseint":        stdlib.ParseIntFunc,
	"pow":             stdlib.PowFunc,
	"range":           stdlib.RangeFunc,
	"regex":           stdlib.RegexFunc,
	"regexall":        stdlib.RegexAllFunc,
	"regex_replace":   stdlib.RegexReplaceFunc,
	"replace":         stdlib.ReplaceFunc,
	"reverse":         stdlib.ReverseListFunc,
	"setintersection": stdlib.SetIntersectionFunc,
	"setproduct":      stdlib.SetProductFunc,
	"setsubtract":     stdlib.SetSubtractFunc,
	"setunion":        stdlib.SetUnionFunc,
	"signum":          stdlib.SignumFunc,
	"slice":           stdlib.SliceFunc,
	"sort":            stdlib.SortFunc,
	"split":           stdlib.SplitFunc,
	"strlen":          stdlib.StrlenFunc,
	"strrev":          stdlib.ReverseFunc,
	"substr":          stdlib.SubstrFunc,
	"timeadd":         stdlib.TimeAddFunc,
	"title":           stdlib.TitleFunc,
	"tobool":          stdlib.MakeToFunc(cty.Bool),
	"tolist":          stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
	"tomap":           stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
	"tonumber":        stdlib.MakeToFunc(cty.Number),
	"toset":           stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
	"tostring":        stdlib.MakeToFunc(cty.String),
	"trim":            stdlib.TrimFunc,
	"trimprefix":      stdlib.TrimPrefixFunc,
	"trimspace":       stdlib.TrimSpaceFunc,
	"trimsuffix":      stdlib.TrimSuffixFunc,
	"try":             tryfunc.TryFunc,
	"upper":           stdlib.UpperFunc,
	"values":          stdlib.ValuesFunc,
	"yamldecode":      ctyyaml.YAMLDecodeFunc,
	"yamlencode":      ctyyaml.YAMLEncodeFunc,
	"zipmap":          stdlib.ZipmapFunc,

	"base64decode": base64DecodeFunc,
	"base64encode": stringFunc(func(s string) (string, error) { return base64.StdEncoding.EncodeToString([]byte(s)), nil }),
	"basename":     stringFunc(func(s string) (string, error) { return filepath.Base(s), nil }),
	"dirname":      stringFunc(func(s string) (string, error) { return filepath.Dir(s), nil }),
	"endswith":     stringPredicate(strings.HasSuffix),
	"md5":          hashFunc(md5.New),
	"pathexpand":   stringFunc(pathExpand),
	"sha1":         hashFunc(sha1.New),
	"sha256":       hashFunc(sha256.New),
	"sha512":       hashFunc(sha512.New),
	"startswith":   stringPredicate(strings.HasPrefix),
	"strcontains":  stringPredicate(strings.Contains),
	"uuidv4":       uuidFunc,
}

// functions returns the template's function table. inDefaults is true for
// variable defaults, the only place env() may be used.
func (t *Template) functions(inDefaults bool) funcMap {
	m := make(funcMap, len(stdFuncs)+12)
	for k, v := range stdFuncs {
		m[k] = v
	}
	m["abspath"] = stringFunc(func(p string) (string, error) { return filepath.Clean(t.resolve(p)), nil })
	m["env"] = t.envFunc(inDefaults)
	m["file"] = stringFunc(t.readFile)
	m["filebase64"] = stringFunc(func(p string) (string, error) {
		b, err := readBounded(t.resolve(p), MaxFunctionFileSize)
		if err != nil {
			return "", err
		}
		return base64.StdEncoding.EncodeToString(b), nil
	})
	m["fileexists"] = function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			fi, err := os.Stat(t.resolve(args[0].AsString()))
			if err != nil {
				if os.IsNotExist(err) {
					return cty.False, nil
				}
				return cty.UnknownVal(cty.Bool), err
			}
			return cty.BoolVal(fi.Mode().IsRegular()), nil
		},
	})
	m["fileset"] = t.filesetFunc()
	m["legacy_isotime"] = stringFunc(func(layout string) (string, error) { return t.Now.UTC().Format(layout), nil })
	m["timestamp"] = function.New(&function.Spec{
		Type: function.StaticReturnType(cty.String),
		Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
			return cty.StringVal(t.Now.UTC().Format(time.RFC3339)), nil
		},
	})
	t.addPackerFunctions(m)
	m["templatefile"] = t.templateFileFunc(m)
	return m
}

// resolve makes a relative path absolute against the working directory the
// template was loaded from, as Packer resolves paths in file functions.
func (t *Template) resolve(p string) string {
	if filepath.IsAbs(p) || t.cwd == "" {
		return p
	}
	return filepath.Join(t.cwd, p)
}

// readFile reads a text file for file and templatefile: a regular file of at
// most MaxFunctionFileSize bytes.
func (t *Template) readFile(p string) (string, error) {
	b, err := readBounded(t.resolve(p), MaxFunctionFileSize)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%s is not UTF-8 text; use filebase64 for binary files", p)
	}
	return string(b), nil
}

func (t *Template) envFunc(inDefaults bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "name", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if !inDefaults {
				return cty.UnknownVal(cty.String), fmt.Errorf("env can only be used in the default value of a variable; declare a variable with default = env(%q) and use it instead", args[0].AsString())
			}
			return cty.StringVal(t.getenv(args[0].AsString())), nil
		},
	})
}

// filesetFunc lists the files under a directory whose slash-separated
// relative paths match a glob pattern ("*" within a path segment, "**"
// across segments), sorted.
func (t *Template) filesetFunc() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "pattern", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Set(cty.String)),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			dir, pattern := t.resolve(args[0].AsString()), args[1].AsString()
			g, err := glob.Compile(pattern, '/')
			if err != nil {
				return cty.UnknownVal(cty.Set(cty.String)), fmt.Errorf("invalid pattern %q: %w", pattern, err)
			}
			var matches []cty.Value
			err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.Type().IsRegular() {
					return nil
				}
				rel, err := filepath.Rel(dir, p)
				if err != nil {
					return err
				}
				if rel = filepath.ToSlash(rel); g.Match(rel) {
					matches = append(matches, cty.StringVal(rel))
				}
				return nil
			})
			if err != nil {
				return cty.UnknownVal(cty.Set(cty.String)), fmt.Errorf("list %s: %w", args[0].AsString(), err)
			}
			if len(matches) == 0 {
				return cty.SetValEmpty(cty.String), nil
			}
			return cty.SetVal(matches), nil
		},
	})
}

// templateFileFunc renders a file as an HCL string template with the given
// variables and the template's functions (except templatefile itself).
func (t *Template) templateFileFunc(funcs funcMap) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "vars", Type: cty.DynamicPseudoType}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			src, err := t.readFile(name)
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			if d := checkNesting([]byte(src), name, scanTemplate); d != nil {
				return cty.UnknownVal(cty.String), fmt.Errorf("parse %s: %s", name, d.Detail)
			}
			expr, diags := hclsyntax.ParseTemplate([]byte(src), name, hcl.InitialPos)
			if diags.HasErrors() {
				return cty.UnknownVal(cty.String), fmt.Errorf("parse %s: %s", name, diags.Error())
			}
			vars := args[1]
			if !vars.IsWhollyKnown() {
				return cty.UnknownVal(cty.String), nil
			}
			if vars.IsNull() || !(vars.Type().IsObjectType() || vars.Type().IsMapType()) {
				return cty.UnknownVal(cty.String), fmt.Errorf("templatefile needs a map or object of variables, not %s", vars.Type().FriendlyName())
			}
			ctx := &hcl.EvalContext{Variables: vars.AsValueMap(), Functions: map[string]function.Function{}}
			for k, f := range funcs {
				if k != "templatefile" {
					ctx.Functions[k] = f
				}
			}
			val, diags := expr.Value(ctx)
			if diags.HasErrors() {
				return cty.UnknownVal(cty.String), fmt.Errorf("render %s: %s", name, diags.Error())
			}
			if !val.IsKnown() {
				return cty.UnknownVal(cty.String), nil
			}
			if val.IsNull() || !val.Type().Equals(cty.String) {
				return cty.UnknownVal(cty.String), fmt.Errorf("%s did not render to a string", name)
			}
			return val, nil
		},
	})
}

// stringFunc makes a function of one string returning a string.
func stringFunc(f func(string) (string, error)) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			s, err := f(args[0].AsString())
			if err != nil {
				return cty.UnknownVal(cty.String), err
			}
			return cty.StringVal(s), nil
		},
	})
}

func stringPredicate(f func(s, sub string) bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "substr", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(f(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

func hashFunc(h func() hash.Hash) function.Function {
	return stringFunc(func(s string) (string, error) {
		d := h()
		d.Write([]byte(s))
		return hex.EncodeToString(d.Sum(nil)), nil
	})
}

var base64DecodeFunc = stringFunc(func(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("invalid base64: %w", err)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("the decoded bytes are not UTF-8 text")
	}
	return string(b), nil
})

func pathExpand(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, p[1:]), nil
}

var uuidFunc = function.New(&function.Spec{
	Type: function.StaticReturnType(cty.String),
	Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
		return cty.StringVal(newUUID()), nil
	},
})

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// lengthFunc is stdlib's length extended to strings (the number of
// characters) and objects (the number of attributes), as in Packer.
var lengthFunc = function.New(&function.Spec{
	Params: []function.Parameter{{
		Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true, AllowUnknown: true,
	}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		if ty == cty.String || ty == cty.DynamicPseudoType || ty.IsCollectionType() || ty.IsTupleType() || ty.IsObjectType() {
			return cty.Number, nil
		}
		return cty.NilType, fmt.Errorf("length needs a string, a collection or a structure, not %s", ty.FriendlyName())
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v := args[0]
		switch ty := v.Type(); {
		case ty == cty.DynamicPseudoType:
			return cty.UnknownVal(cty.Number), nil
		case ty == cty.String:
			return stdlib.Strlen(v)
		case ty.IsObjectType():
			return cty.NumberIntVal(int64(len(ty.AttributeTypes()))), nil
		case ty.IsTupleType():
			return cty.NumberIntVal(int64(len(ty.TupleElementTypes()))), nil
		}
		return v.Length(), nil
	},
})

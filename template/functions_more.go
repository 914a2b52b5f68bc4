package template

import (
	"bytes"
	"compress/gzip"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apparentlymart/go-cidr/cidr"
	"github.com/google/uuid"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"github.com/zclconf/go-cty/cty/gocty"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"
)

// packerFuncs are the rest of Packer's function library: networks,
// collections, encodings, crypto, UUIDs and dates, none of which needs
// anything from the template. vault and consul_key are registered so that a
// template using them is told why kiln cannot run it.
var packerFuncs = funcMap{
	"alltrue":              allTrueFunc,
	"anytrue":              anyTrueFunc,
	"base64gzip":           base64GzipFunc,
	"bcrypt":               bcryptFunc,
	"cidrhost":             cidrHostFunc,
	"cidrnetmask":          cidrNetmaskFunc,
	"cidrsubnet":           cidrSubnetFunc,
	"cidrsubnets":          cidrSubnetsFunc,
	"consul_key":           unsupportedFunc("consul_key", []string{"key"}, "kiln embeds no Consul client, so it cannot read Consul's key/value store; pass the value in a variable (-var, a var file or PKR_VAR_name) instead"),
	"convert":              typeexpr.ConvertFunc,
	"index":                indexFunc,
	"rfc3339_parse":        rfc3339ParseFunc,
	"rsadecrypt":           rsaDecryptFunc,
	"sum":                  sumFunc,
	"textdecodebase64":     textDecodeBase64Func,
	"textencodebase64":     textEncodeBase64Func,
	"unix_timestamp_parse": unixTimestampParseFunc,
	"urlencode":            stringFunc(func(s string) (string, error) { return url.QueryEscape(s), nil }),
	"uuidv5":               uuidV5Func,
	"vault":                unsupportedFunc("vault", []string{"path", "key"}, "kiln embeds no Vault client, so it cannot read Vault secrets; pass the secret in a sensitive variable (-var, a var file or PKR_VAR_name) instead"),
}

// addPackerFunctions adds packerFuncs and legacy_strftime, which formats
// the run's timestamp, to m.
func (t *Template) addPackerFunctions(m funcMap) {
	for k, v := range packerFuncs {
		m[k] = v
	}
	m["legacy_strftime"] = t.legacyStrftimeFunc()
}

// unsupportedFunc is a function kiln knows by name but cannot run: every
// call, even with unknown arguments, is an error at the call that names the
// function and says why.
func unsupportedFunc(name string, params []string, reason string) function.Function {
	err := fmt.Errorf("kiln does not support %s() yet: %s", name, reason)
	spec := &function.Spec{
		// Type runs even when the arguments are unknown, so validation
		// reports the call; Impl is then never reached.
		Type: func([]cty.Value) (cty.Type, error) { return cty.NilType, err },
		Impl: func([]cty.Value, cty.Type) (cty.Value, error) { return cty.NilVal, err },
	}
	for _, p := range params {
		spec.Params = append(spec.Params, function.Parameter{Name: p, Type: cty.String, AllowUnknown: true, AllowNull: true, AllowDynamicType: true})
	}
	return function.New(spec)
}

// wholeNumber returns n as a big integer, or an error naming the argument
// when n has a fraction.
func wholeNumber(n cty.Value, name string) (*big.Int, error) {
	f := n.AsBigFloat()
	if !f.IsInt() {
		return nil, fmt.Errorf("%s must be a whole number, not %s", name, f.Text('g', -1))
	}
	i, _ := f.Int(nil)
	return i, nil
}

// smallInt returns n as an int, or an error naming the argument.
func smallInt(n cty.Value, name string) (int, error) {
	var i int
	if err := gocty.FromCtyValue(n, &i); err != nil {
		return 0, fmt.Errorf("%s must be a whole number: %w", name, err)
	}
	return i, nil
}

func parseCIDR(prefix string) (*net.IPNet, error) {
	_, network, err := net.ParseCIDR(prefix)
	if err != nil {
		return nil, fmt.Errorf("invalid CIDR expression: %w", err)
	}
	return network, nil
}

// cidrHostFunc is cidrhost(prefix, hostnum): the address of host number
// hostnum in the network; a negative hostnum counts back from the end.
var cidrHostFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "hostnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		network, err := parseCIDR(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		num, err := wholeNumber(args[1], "hostnum")
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(1, err)
		}
		ip, err := cidr.HostBig(network, num)
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(1, err)
		}
		return cty.StringVal(ip.String()), nil
	},
})

// cidrNetmaskFunc is cidrnetmask(prefix): the network's mask in address
// notation ("255.255.240.0" for a /20).
var cidrNetmaskFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		network, err := parseCIDR(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		return cty.StringVal(net.IP(network.Mask).String()), nil
	},
})

// maxNewBits is how far cidrsubnet and cidrsubnets may extend a prefix in
// one call, as in Packer.
const maxNewBits = 32

// cidrSubnetFunc is cidrsubnet(prefix, newbits, netnum): subnet number
// netnum of the network extended by newbits bits.
var cidrSubnetFunc = function.New(&function.Spec{
	Params: []function.Parameter{
		{Name: "prefix", Type: cty.String}, {Name: "newbits", Type: cty.Number}, {Name: "netnum", Type: cty.Number},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		network, err := parseCIDR(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(0, err)
		}
		newBits, err := smallInt(args[1], "newbits")
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(1, err)
		}
		if newBits < 0 || newBits > maxNewBits {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(1, "newbits must be from 0 to %d, not %d", maxNewBits, newBits)
		}
		num, err := wholeNumber(args[2], "netnum")
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(2, err)
		}
		subnet, err := cidr.SubnetBig(network, newBits, num)
		if err != nil {
			return cty.UnknownVal(cty.String), err
		}
		return cty.StringVal(subnet.String()), nil
	},
})

// cidrSubnetsFunc is cidrsubnets(prefix, newbits...): consecutive subnets of
// the network, one per newbits argument, each extending the prefix by that
// many bits and starting at the first address after the previous one that
// its own length allows.
var cidrSubnetsFunc = function.New(&function.Spec{
	Params:   []function.Parameter{{Name: "prefix", Type: cty.String}},
	VarParam: &function.Parameter{Name: "newbits", Type: cty.Number},
	Type:     function.StaticReturnType(cty.List(cty.String)),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		network, err := parseCIDR(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.List(cty.String)), function.NewArgError(0, err)
		}
		if len(args) == 1 {
			return cty.ListValEmpty(cty.String), nil
		}
		baseLen, addrLen := network.Mask.Size()
		lengths := make([]int, len(args)-1)
		for i, a := range args[1:] {
			n, err := smallInt(a, "newbits")
			if err != nil {
				return cty.UnknownVal(cty.List(cty.String)), function.NewArgError(i+1, err)
			}
			if n < 1 || n > maxNewBits {
				return cty.UnknownVal(cty.List(cty.String)), function.NewArgErrorf(i+1, "newbits must be from 1 to %d, not %d", maxNewBits, n)
			}
			if baseLen+n > addrLen {
				return cty.UnknownVal(cty.List(cty.String)), function.NewArgErrorf(i+1,
					"would extend the prefix to %d bits, longer than a %d-bit address", baseLen+n, addrLen)
			}
			lengths[i] = baseLen + n
		}
		// Start just before the network so that the first NextSubnet is the
		// network's first subnet of the first length.
		current, _ := cidr.PreviousSubnet(network, lengths[0])
		out := make([]cty.Value, len(lengths))
		for i, length := range lengths {
			next, rollover := cidr.NextSubnet(current, length)
			if rollover || !network.Contains(next.IP) {
				return cty.UnknownVal(cty.List(cty.String)), function.NewArgErrorf(i+1,
					"not enough address space left in %s for a /%d after %s", network, length, current)
			}
			current = next
			out[i] = cty.StringVal(current.String())
		}
		return cty.ListVal(out), nil
	},
})

// indexFunc is index(list, value): the index of the first element of a
// list or tuple equal to value. Packer's index searches for a value, unlike
// the cty standard library's, which looks one up by key.
var indexFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}, {Name: "value", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		list, value := args[0], args[1]
		if ty := list.Type(); !ty.IsListType() && !ty.IsTupleType() {
			return cty.UnknownVal(cty.Number), function.NewArgErrorf(0, "index needs a list or a tuple, not %s", ty.FriendlyName())
		}
		if list.LengthInt() == 0 {
			return cty.UnknownVal(cty.Number), function.NewArgErrorf(0, "cannot search an empty list")
		}
		for it := list.ElementIterator(); it.Next(); {
			i, v := it.Element()
			eq, err := stdlib.Equal(v, value)
			if err != nil {
				return cty.UnknownVal(cty.Number), err
			}
			if !eq.IsKnown() {
				return cty.UnknownVal(cty.Number), nil
			}
			if eq.True() {
				return i, nil
			}
		}
		return cty.UnknownVal(cty.Number), function.NewArgErrorf(1, "item not found")
	},
})

// sumFunc is sum(list): the sum of the numbers of a non-empty list, set or
// tuple.
var sumFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (ret cty.Value, err error) {
		list := args[0]
		if ty := list.Type(); !ty.IsListType() && !ty.IsSetType() && !ty.IsTupleType() {
			return cty.UnknownVal(cty.Number), function.NewArgErrorf(0, "sum needs a list, set or tuple of numbers, not %s", ty.FriendlyName())
		}
		if list.LengthInt() == 0 {
			return cty.UnknownVal(cty.Number), function.NewArgErrorf(0, "cannot sum an empty list")
		}
		if !list.IsWhollyKnown() {
			return cty.UnknownVal(cty.Number), nil
		}
		// Adding opposite infinities panics with big.ErrNaN.
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(big.ErrNaN); !ok {
					panic(r)
				}
				ret, err = cty.UnknownVal(cty.Number), errors.New("cannot sum opposite infinities")
			}
		}()
		total := cty.Zero
		for it := list.ElementIterator(); it.Next(); {
			_, v := it.Element()
			if v.IsNull() {
				return cty.UnknownVal(cty.Number), function.NewArgErrorf(0, "sum needs numbers, and an element is null")
			}
			n, err := convert.Convert(v, cty.Number)
			if err != nil {
				return cty.UnknownVal(cty.Number), function.NewArgErrorf(0, "sum needs numbers: %s", err)
			}
			total = total.Add(n)
		}
		return total, nil
	},
})

// allTrueFunc is alltrue(list): true when every element is true (and for an
// empty list); a null element counts as false.
var allTrueFunc = boolSearchFunc(false)

// anyTrueFunc is anytrue(list): true when any element is true; false for an
// empty list. Null elements count as false.
var anyTrueFunc = boolSearchFunc(true)

// boolSearchFunc returns a function of a list of bools that is target as
// soon as an element is target (a null element counts as false), unknown
// when an unknown element could still be target, and !target otherwise.
func boolSearchFunc(target bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			unknown := false
			for it := args[0].ElementIterator(); it.Next(); {
				_, v := it.Element()
				switch {
				case !v.IsKnown():
					unknown = true
				case (!v.IsNull() && v.True()) == target:
					return cty.BoolVal(target), nil
				}
			}
			if unknown {
				return cty.UnknownVal(cty.Bool), nil
			}
			return cty.BoolVal(!target), nil
		},
	})
}

// base64GzipFunc is base64gzip(str): str as UTF-8, gzip-compressed, in
// standard base64.
var base64GzipFunc = stringFunc(func(s string) (string, error) {
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	if _, err := gz.Write([]byte(s)); err != nil {
		return "", fmt.Errorf("gzip: %w", err)
	}
	if err := gz.Close(); err != nil {
		return "", fmt.Errorf("gzip: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes()), nil
})

// ianaEncoding looks up a character encoding by its IANA name or alias
// ("UTF-16LE", "ISO-8859-1", "windows-1252") and returns it with its
// canonical name.
func ianaEncoding(name string) (encoding.Encoding, string, error) {
	enc, err := ianaindex.IANA.Encoding(name)
	if err != nil || enc == nil {
		return nil, "", fmt.Errorf("%q is not a supported IANA encoding name or alias", name)
	}
	canonical, err := ianaindex.IANA.Name(enc)
	if err != nil {
		canonical = name
	}
	return enc, canonical, nil
}

// textEncodeBase64Func is textencodebase64(string, encoding_name): the
// string in the named character encoding, in standard base64.
var textEncodeBase64Func = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "string", Type: cty.String}, {Name: "encoding_name", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		enc, name, err := ianaEncoding(args[1].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(1, err)
		}
		b, err := enc.NewEncoder().Bytes([]byte(args[0].AsString()))
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(0, "the string has characters that %s cannot represent", name)
		}
		return cty.StringVal(base64.StdEncoding.EncodeToString(b)), nil
	},
})

// textDecodeBase64Func is textdecodebase64(source, encoding_name): the
// inverse of textencodebase64.
var textDecodeBase64Func = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "source", Type: cty.String}, {Name: "encoding_name", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		enc, name, err := ianaEncoding(args[1].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(1, err)
		}
		raw, err := base64.StdEncoding.DecodeString(args[0].AsString())
		if err != nil {
			var corrupt base64.CorruptInputError
			if errors.As(err, &corrupt) {
				return cty.UnknownVal(cty.String), function.NewArgErrorf(0, "invalid base64 at offset %d", int64(corrupt))
			}
			return cty.UnknownVal(cty.String), function.NewArgErrorf(0, "invalid base64: %s", err)
		}
		b, err := enc.NewDecoder().Bytes(raw)
		if err != nil || bytes.ContainsRune(b, utf8.RuneError) {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(0, "the bytes are not valid %s text", name)
		}
		return cty.StringVal(string(b)), nil
	},
})

// bcryptFunc is bcrypt(str, cost?): a bcrypt hash of str in Modular Crypt
// Format, with cost 10 unless given. Each call salts anew.
var bcryptFunc = function.New(&function.Spec{
	Params:   []function.Parameter{{Name: "str", Type: cty.String}},
	VarParam: &function.Parameter{Name: "cost", Type: cty.Number},
	Type: func(args []cty.Value) (cty.Type, error) {
		if len(args) > 2 {
			return cty.NilType, errors.New("bcrypt takes a string and at most one cost")
		}
		return cty.String, nil
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		cost := bcrypt.DefaultCost
		if len(args) == 2 {
			c, err := smallInt(args[1], "cost")
			if err != nil {
				return cty.UnknownVal(cty.String), function.NewArgError(1, err)
			}
			cost = c
		}
		h, err := bcrypt.GenerateFromPassword([]byte(args[0].AsString()), cost)
		if err != nil {
			return cty.UnknownVal(cty.String), fmt.Errorf("bcrypt: %w", err)
		}
		return cty.StringVal(string(h)), nil
	},
})

// rsaDecryptFunc is rsadecrypt(ciphertext, privatekey): the plain text of
// base64 ciphertext encrypted with RSA PKCS #1 v1.5 (as EC2 encrypts
// Windows passwords), given an unencrypted PEM RSA private key (PKCS #1 or
// PKCS #8).
var rsaDecryptFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "ciphertext", Type: cty.String}, {Name: "privatekey", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		ciphertext, err := base64.StdEncoding.DecodeString(args[0].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgErrorf(0, "the cipher text must be base64: %s", err)
		}
		key, err := parseRSAKey(args[1].AsString())
		if err != nil {
			return cty.UnknownVal(cty.String), function.NewArgError(1, err)
		}
		//lint:ignore SA1019 rsadecrypt is defined on PKCS #1 v1.5, the scheme EC2 uses for Windows passwords.
		plain, err := rsa.DecryptPKCS1v15(nil, key, ciphertext)
		if err != nil {
			return cty.UnknownVal(cty.String), fmt.Errorf("decrypt: %w", err)
		}
		if !utf8.Valid(plain) {
			return cty.UnknownVal(cty.String), errors.New("the decrypted bytes are not UTF-8 text")
		}
		return cty.StringVal(string(plain)), nil
	},
})

func parseRSAKey(text string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("no PEM-encoded private key found")
	}
	if block.Headers["Proc-Type"] == "4,ENCRYPTED" {
		return nil, errors.New("password-protected keys are not supported; decrypt the key first")
	}
	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an RSA private key: %w", err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T is not an RSA private key", k)
	}
	return key, nil
}

// uuidNamespaces are the namespaces uuidv5 knows by name (RFC 4122
// appendix C).
var uuidNamespaces = map[string]uuid.UUID{
	"dns": uuid.NameSpaceDNS, "url": uuid.NameSpaceURL, "oid": uuid.NameSpaceOID, "x500": uuid.NameSpaceX500,
}

// uuidV5Func is uuidv5(namespace, name): the name-based (SHA-1) UUID of name
// in a namespace given as "dns", "url", "oid", "x500" or a UUID.
var uuidV5Func = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "namespace", Type: cty.String}, {Name: "name", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		ns, ok := uuidNamespaces[args[0].AsString()]
		if !ok {
			var err error
			if ns, err = uuid.Parse(args[0].AsString()); err != nil {
				return cty.UnknownVal(cty.String), function.NewArgErrorf(0,
					"namespace %q is neither dns, url, oid, x500 nor a UUID", args[0].AsString())
			}
		}
		return cty.StringVal(uuid.NewSHA1(ns, []byte(args[1].AsString())).String()), nil
	},
})

// dateAttrs are the attributes rfc3339_parse and unix_timestamp_parse share.
var dateAttrs = map[string]cty.Type{
	"year": cty.Number, "year_day": cty.Number, "day": cty.Number, "month": cty.Number,
	"month_name": cty.String, "weekday": cty.Number, "weekday_name": cty.String,
	"hour": cty.Number, "minute": cty.Number, "second": cty.Number,
	"iso_year": cty.Number, "iso_week": cty.Number,
}

// dateType returns the object type of dateAttrs plus extra of type ty.
func dateType(extra string, ty cty.Type) cty.Type {
	attrs := make(map[string]cty.Type, len(dateAttrs)+1)
	for k, v := range dateAttrs {
		attrs[k] = v
	}
	attrs[extra] = ty
	return cty.Object(attrs)
}

// dateObject describes t (in its own zone) with dateAttrs plus extra.
func dateObject(t time.Time, extra string, v cty.Value) cty.Value {
	isoYear, isoWeek := t.ISOWeek()
	n := func(i int) cty.Value { return cty.NumberIntVal(int64(i)) }
	return cty.ObjectVal(map[string]cty.Value{
		"year": n(t.Year()), "year_day": n(t.YearDay()), "day": n(t.Day()), "month": n(int(t.Month())),
		"month_name": cty.StringVal(t.Month().String()), "weekday": n(int(t.Weekday())),
		"weekday_name": cty.StringVal(t.Weekday().String()),
		"hour":         n(t.Hour()), "minute": n(t.Minute()), "second": n(t.Second()),
		"iso_year": n(isoYear), "iso_week": n(isoWeek),
		extra: v,
	})
}

// rfc3339Layouts accept RFC 3339's "T" or space separator, each with or
// without fractional seconds.
var rfc3339Layouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00"}

// rfc3339ParseFunc is rfc3339_parse(timestamp): the parts of an RFC 3339
// timestamp, in its own offset, and its Unix time (unix).
var rfc3339ParseFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "timestamp", Type: cty.String}},
	Type:   function.StaticReturnType(dateType("unix", cty.Number)),
	Impl: func(args []cty.Value, ret cty.Type) (cty.Value, error) {
		s := args[0].AsString()
		for _, layout := range rfc3339Layouts {
			if t, err := time.Parse(layout, s); err == nil {
				return dateObject(t, "unix", cty.NumberIntVal(t.Unix())), nil
			}
		}
		return cty.UnknownVal(ret), function.NewArgErrorf(0, "%q is not a valid RFC3339 timestamp", s)
	},
})

// unixTimestampParseFunc is unix_timestamp_parse(unix_timestamp): the parts
// of a Unix time (whole seconds) in UTC, and its RFC 3339 form (rfc3339).
var unixTimestampParseFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "unix_timestamp", Type: cty.Number}},
	Type:   function.StaticReturnType(dateType("rfc3339", cty.String)),
	Impl: func(args []cty.Value, ret cty.Type) (cty.Value, error) {
		var sec int64
		if err := gocty.FromCtyValue(args[0], &sec); err != nil {
			return cty.UnknownVal(ret), function.NewArgErrorf(0, "unix_timestamp must be a whole number of seconds that fits 64 bits: %s", err)
		}
		t := time.Unix(sec, 0).UTC()
		return dateObject(t, "rfc3339", cty.StringVal(t.Format(time.RFC3339))), nil
	},
})

// legacyStrftimeFunc is legacy_strftime(format?): the run's timestamp in UTC
// formatted with C strftime directives (strftime); without a format, in
// RFC 3339.
func (t *Template) legacyStrftimeFunc() function.Function {
	return function.New(&function.Spec{
		VarParam: &function.Parameter{Name: "format", Type: cty.String},
		Type: func(args []cty.Value) (cty.Type, error) {
			if len(args) > 1 {
				return cty.NilType, errors.New("legacy_strftime takes at most one format")
			}
			return cty.String, nil
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			now := t.Now.UTC()
			if len(args) == 0 {
				return cty.StringVal(now.Format(time.RFC3339)), nil
			}
			return cty.StringVal(strftime(args[0].AsString(), now)), nil
		},
	})
}

// strftime formats t with C strftime directives in the C locale: %a %A %b
// %B %c %C %d %D %e %F %g %G %h %H %I %j %k %l %m %M %n %p %P %r %R %s %S %t
// %T %u %U %V %w %W %x %X %y %Y %z %Z and %%. Other directives are
// written as they are.
func strftime(format string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i == len(format)-1 {
			b.WriteByte(c)
			continue
		}
		i++
		if s, ok := strftimeDirective(format[i], t); ok {
			b.WriteString(s)
		} else {
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}

func strftimeDirective(d byte, t time.Time) (string, bool) {
	pad := func(n, width int) string { return fmt.Sprintf("%0*d", width, n) }
	space := func(n int) string { return fmt.Sprintf("%2d", n) }
	hour12 := t.Hour() % 12
	if hour12 == 0 {
		hour12 = 12
	}
	isoYear, isoWeek := t.ISOWeek()
	switch d {
	case 'a':
		return t.Format("Mon"), true
	case 'A':
		return t.Format("Monday"), true
	case 'b', 'h':
		return t.Format("Jan"), true
	case 'B':
		return t.Format("January"), true
	case 'c':
		return t.Format("Mon Jan _2 15:04:05 2006"), true
	case 'C':
		return pad(t.Year()/100, 2), true
	case 'd':
		return pad(t.Day(), 2), true
	case 'D', 'x':
		return t.Format("01/02/06"), true
	case 'e':
		return space(t.Day()), true
	case 'F':
		return t.Format("2006-01-02"), true
	case 'g':
		return pad(isoYear%100, 2), true
	case 'G':
		return strconv.Itoa(isoYear), true
	case 'H':
		return pad(t.Hour(), 2), true
	case 'I':
		return pad(hour12, 2), true
	case 'j':
		return pad(t.YearDay(), 3), true
	case 'k':
		return space(t.Hour()), true
	case 'l':
		return space(hour12), true
	case 'm':
		return pad(int(t.Month()), 2), true
	case 'M':
		return pad(t.Minute(), 2), true
	case 'n':
		return "\n", true
	case 'p':
		return t.Format("PM"), true
	case 'P':
		return t.Format("pm"), true
	case 'r':
		return t.Format("03:04:05 PM"), true
	case 'R':
		return t.Format("15:04"), true
	case 's':
		return strconv.FormatInt(t.Unix(), 10), true
	case 'S':
		return pad(t.Second(), 2), true
	case 't':
		return "\t", true
	case 'T', 'X':
		return t.Format("15:04:05"), true
	case 'u':
		return strconv.Itoa((int(t.Weekday())+6)%7 + 1), true
	case 'U':
		return pad((t.YearDay()+6-int(t.Weekday()))/7, 2), true
	case 'V':
		return pad(isoWeek, 2), true
	case 'w':
		return strconv.Itoa(int(t.Weekday())), true
	case 'W':
		return pad((t.YearDay()+6-(int(t.Weekday())+6)%7)/7, 2), true
	case 'y':
		return pad(t.Year()%100, 2), true
	case 'Y':
		return strconv.Itoa(t.Year()), true
	case 'z':
		return t.Format("-0700"), true
	case 'Z':
		return t.Format("MST"), true
	case '%':
		return "%", true
	}
	return "", false
}

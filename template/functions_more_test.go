package template

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
	"golang.org/x/crypto/bcrypt"
)

// call evaluates an expression in the context of a template made for tests,
// whose run timestamp is testNow.
func call(t *testing.T, src string, vars map[string]cty.Value) (cty.Value, error) {
	t.Helper()
	expr, diags := parseExpr(t, src)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %s", src, diags.Error())
	}
	ctx := (&Template{Now: testNow}).EvalContext(nil, nil, nil)
	for k, v := range vars {
		ctx.Variables[k] = v
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return v, diags
	}
	return v, nil
}

type funcCase struct {
	src  string
	want cty.Value // compared with Equals
	err  string    // a part of the error; want is then unused
}

func runFuncCases(t *testing.T, cases []funcCase) {
	t.Helper()
	for _, c := range cases {
		got, err := call(t, c.src, nil)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one containing %q (value %#v)", c.src, err, c.err, got)
			}
		case err != nil:
			t.Errorf("%s: %v", c.src, err)
		case !got.IsWhollyKnown() || !got.Type().Equals(c.want.Type()) || !got.Equals(c.want).True():
			t.Errorf("%s = %#v, want %#v", c.src, got, c.want)
		}
	}
}

func strs(ss ...string) cty.Value {
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}

// The expected addresses are those of Packer's and Terraform's documentation,
// checked with Python's ipaddress module.
func TestCIDRFunctions(t *testing.T) {
	runFuncCases(t, []funcCase{
		{src: `cidrhost("10.12.112.0/20", 16)`, want: cty.StringVal("10.12.112.16")},
		{src: `cidrhost("10.12.112.0/20", 268)`, want: cty.StringVal("10.12.113.12")},
		{src: `cidrhost("10.12.112.0/20", -1)`, want: cty.StringVal("10.12.127.255")},
		{src: `cidrhost("fd00:fd12:3456:7890:00a2::/72", 34)`, want: cty.StringVal("fd00:fd12:3456:7890::22")},
		{src: `cidrhost("10.0.0.0/24", 256)`, err: "prefix of 24 does not accommodate a host numbered 256"},
		{src: `cidrhost("10.0.0.0/24", 1.5)`, err: "hostnum must be a whole number"},
		{src: `cidrhost("10.0.0.0", 1)`, err: "invalid CIDR expression"},

		{src: `cidrnetmask("172.16.0.0/12")`, want: cty.StringVal("255.240.0.0")},
		{src: `cidrnetmask("10.0.0.0/32")`, want: cty.StringVal("255.255.255.255")},
		{src: `cidrnetmask("fd00::/64")`, want: cty.StringVal("ffff:ffff:ffff:ffff::")},
		{src: `cidrnetmask("not-a-cidr")`, err: "invalid CIDR expression"},

		{src: `cidrsubnet("172.16.0.0/12", 4, 2)`, want: cty.StringVal("172.18.0.0/16")},
		{src: `cidrsubnet("10.1.2.0/24", 4, 15)`, want: cty.StringVal("10.1.2.240/28")},
		{src: `cidrsubnet("fd00:fd12:3456:7890::/56", 16, 162)`, want: cty.StringVal("fd00:fd12:3456:7800:a200::/72")},
		{src: `cidrsubnet("10.0.0.0/8", 0, 0)`, want: cty.StringVal("10.0.0.0/8")},
		{src: `cidrsubnet("10.1.2.0/24", 4, 16)`, err: "does not accommodate a subnet numbered 16"},
		{src: `cidrsubnet("10.0.0.0/30", 4, 0)`, err: "insufficient address space"},
		{src: `cidrsubnet("fd00::/56", 33, 0)`, err: "newbits must be from 0 to 32"},
		{src: `cidrsubnet("10.0.0.0/8", -1, 0)`, err: "newbits must be from 0 to 32"},
		{src: `cidrsubnet("10.0.0.0/8", 8, -1)`, err: "must not be negative"},

		{src: `cidrsubnets("10.1.0.0/16", 4, 4, 8, 4)`, want: strs("10.1.0.0/20", "10.1.16.0/20", "10.1.32.0/24", "10.1.48.0/20")},
		{src: `cidrsubnets("fd00:fd12:3456:7890::/56", 16, 16, 16, 32)`, want: strs(
			"fd00:fd12:3456:7800::/72", "fd00:fd12:3456:7800:100::/72", "fd00:fd12:3456:7800:200::/72", "fd00:fd12:3456:7800:300::/88")},
		{src: `cidrsubnets("10.0.0.0/8")`, want: cty.ListValEmpty(cty.String)},
		{src: `cidrsubnets("10.0.0.0/30", 1, 1, 1)`, err: "not enough address space left in 10.0.0.0/30 for a /31 after 10.0.0.2/31"},
		{src: `cidrsubnets("10.0.0.0/8", 0)`, err: "newbits must be from 1 to 32"},
		{src: `cidrsubnets("10.0.0.0/30", 3)`, err: "would extend the prefix to 33 bits"},
	})
}

func TestCollectionFunctions(t *testing.T) {
	runFuncCases(t, []funcCase{
		{src: `index(["a", "b", "c"], "b")`, want: cty.NumberIntVal(1)},
		{src: `index(["a", "b", "b"], "b")`, want: cty.NumberIntVal(1)},
		{src: `index(tolist([1, 2, 3]), 3)`, want: cty.NumberIntVal(2)},
		{src: `index([{ a = 1 }, { a = 2 }], { a = 2 })`, want: cty.NumberIntVal(1)},
		{src: `index(["a"], "z")`, err: "item not found"},
		{src: `index([], "a")`, err: "cannot search an empty list"},
		{src: `index({ a = "b" }, "b")`, err: "index needs a list or a tuple"},

		{src: `sum([10, 13, 6, 4.5])`, want: cty.NumberFloatVal(33.5)},
		{src: `sum(toset([1, 2]))`, want: cty.NumberIntVal(3)},
		{src: `sum(["1", 2])`, want: cty.NumberIntVal(3)},
		{src: `sum([-1, 1])`, want: cty.NumberIntVal(0)},
		{src: `sum([])`, err: "cannot sum an empty list"},
		{src: `sum(["a"])`, err: "sum needs numbers"},
		{src: `sum([1, null])`, err: "an element is null"},
		{src: `sum({ a = 1 })`, err: "sum needs a list, set or tuple"},
		{src: `sum("12")`, err: "sum needs a list, set or tuple"},

		{src: `alltrue(["true", true])`, want: cty.True},
		{src: `alltrue([true, false])`, want: cty.False},
		{src: `alltrue([])`, want: cty.True},
		{src: `alltrue([true, null])`, want: cty.False},
		{src: `alltrue(["yes"])`, err: "a bool is required"},
		{src: `anytrue([false, "true"])`, want: cty.True},
		{src: `anytrue([false, false])`, want: cty.False},
		{src: `anytrue([])`, want: cty.False},
		{src: `anytrue([null, true])`, want: cty.True},

		{src: `length({ a = 1, b = "x" })`, want: cty.NumberIntVal(2)},
		{src: `length({})`, want: cty.NumberIntVal(0)},
		{src: `length(["a", 1])`, want: cty.NumberIntVal(2)},
		{src: `length(tomap({ a = 1 }))`, want: cty.NumberIntVal(1)},
		{src: `length("ключ")`, want: cty.NumberIntVal(4)},
		{src: `length(5)`, err: "length needs a string, a collection or a structure"},
	})
}

func TestLengthOfUnknowns(t *testing.T) {
	obj := cty.Object(map[string]cty.Type{"a": cty.String, "b": cty.Number})
	for _, c := range []struct {
		arg  cty.Value
		want cty.Value
	}{
		// An object's length is its number of attributes, known from its type.
		{cty.UnknownVal(obj), cty.NumberIntVal(2)},
		{cty.UnknownVal(cty.Tuple([]cty.Type{cty.String})), cty.NumberIntVal(1)},
		{cty.UnknownVal(cty.List(cty.String)), cty.UnknownVal(cty.Number)},
		{cty.UnknownVal(cty.String), cty.UnknownVal(cty.Number)},
		{cty.DynamicVal, cty.UnknownVal(cty.Number)},
	} {
		got, err := lengthFunc.Call([]cty.Value{c.arg})
		if err != nil {
			t.Errorf("length(%#v): %v", c.arg, err)
			continue
		}
		if got.IsKnown() != c.want.IsKnown() || (got.IsKnown() && !got.Equals(c.want).True()) {
			t.Errorf("length(%#v) = %#v, want %#v", c.arg, got, c.want)
		}
	}
}

func TestConvert(t *testing.T) {
	runFuncCases(t, []funcCase{
		{src: `convert("5", number)`, want: cty.NumberIntVal(5)},
		{src: `convert([1, 2], list(string))`, want: strs("1", "2")},
		{src: `convert({ a = "x" }, map(string))`, want: cty.MapVal(map[string]cty.Value{"a": cty.StringVal("x")})},
		{src: `convert(["a", "a"], set(string))`, want: cty.SetVal([]cty.Value{cty.StringVal("a")})},
		{src: `convert({ a = 1, b = true }, object({ a = string }))`, want: cty.ObjectVal(map[string]cty.Value{"a": cty.StringVal("1")})},
		{src: `convert("x", number)`, err: "a number is required"},
		{src: `convert("x", nonsense)`, err: "nonsense"},
	})
}

func TestEncodingFunctions(t *testing.T) {
	runFuncCases(t, []funcCase{
		{src: `urlencode("Hello World!")`, want: cty.StringVal("Hello+World%21")},
		{src: `urlencode("☃")`, want: cty.StringVal("%E2%98%83")},
		{src: `urlencode("foo:bar@localhost?foo=bar&bar=baz")`, want: cty.StringVal("foo%3Abar%40localhost%3Ffoo%3Dbar%26bar%3Dbaz")},

		{src: `textencodebase64("Hello World", "UTF-16LE")`, want: cty.StringVal("SABlAGwAbABvACAAVwBvAHIAbABkAA==")},
		{src: `textencodebase64("Hello World", "UTF-8")`, want: cty.StringVal("SGVsbG8gV29ybGQ=")},
		{src: `textencodebase64("café", "ISO-8859-1")`, want: cty.StringVal("Y2Fm6Q==")},
		{src: `textencodebase64("☃", "ISO-8859-1")`, err: "cannot represent"},
		{src: `textencodebase64("x", "NOPE-1")`, err: `"NOPE-1" is not a supported IANA encoding name or alias`},
		{src: `textdecodebase64("SABlAGwAbABvACAAVwBvAHIAbABkAA==", "UTF-16LE")`, want: cty.StringVal("Hello World")},
		{src: `textdecodebase64("Y2Fm6Q==", "latin1")`, want: cty.StringVal("café")},
		{src: `textdecodebase64("Y2Fm6Q==", "UTF-8")`, err: "not valid UTF-8 text"},
		{src: `textdecodebase64("!!!", "UTF-8")`, err: "invalid base64 at offset 0"},
		{src: `textdecodebase64("aGk=", "NOPE-1")`, err: "is not a supported IANA encoding"},
	})
	for _, in := range []string{"", "test", strings.Repeat("kiln ", 100)} {
		got, err := call(t, `base64gzip(s)`, map[string]cty.Value{"s": cty.StringVal(in)})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(got.AsString())
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || string(plain) != in {
			t.Errorf("base64gzip(%q) decodes to %q, %v", in, plain, err)
		}
	}
}

func TestUUIDv5(t *testing.T) {
	// Expected values from Terraform's documentation, checked with Python's uuid.uuid5.
	runFuncCases(t, []funcCase{
		{src: `uuidv5("dns", "www.terraform.io")`, want: cty.StringVal("a5008fae-b28c-5ba5-96cd-82b4c53552d6")},
		{src: `uuidv5("url", "https://www.terraform.io/")`, want: cty.StringVal("9db6f67c-dd95-5ea0-aa5b-e70e5c5f7cf5")},
		{src: `uuidv5("oid", "1.3.6.1.4")`, want: cty.StringVal("af9d40a5-7a36-5c07-b23a-851cd99fbfa5")},
		{src: `uuidv5("x500", "CN=Example,C=GB")`, want: cty.StringVal("84e09961-4aa4-57f8-95b7-03edb1073253")},
		{src: `uuidv5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.terraform.io")`, want: cty.StringVal("a5008fae-b28c-5ba5-96cd-82b4c53552d6")},
		{src: `uuidv5("nope", "x")`, err: `namespace "nope" is neither dns, url, oid, x500 nor a UUID`},
	})
}

func TestBcrypt(t *testing.T) {
	for src, cost := range map[string]int{`bcrypt("hello world")`: 10, `bcrypt("hello world", 4)`: 4} {
		got, err := call(t, src, nil)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		h := []byte(got.AsString())
		if c, err := bcrypt.Cost(h); err != nil || c != cost {
			t.Errorf("%s: cost %d, %v; want %d", src, c, err, cost)
		}
		if err := bcrypt.CompareHashAndPassword(h, []byte("hello world")); err != nil {
			t.Errorf("%s = %s does not match: %v", src, h, err)
		}
	}
	runFuncCases(t, []funcCase{
		{src: `bcrypt("x", 32)`, err: "bcrypt:"},
		{src: `bcrypt("x", 4, 5)`, err: "at most one cost"},
		{src: `bcrypt("x", 4.5)`, err: "cost must be a whole number"},
	})
}

func TestRSADecrypt(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 rsadecrypt is defined on PKCS #1 v1.5; the test makes its input.
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, &key.PublicKey, []byte("s3cret pässword"))
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]cty.Value{
		"ct":      cty.StringVal(base64.StdEncoding.EncodeToString(ct)),
		"pkcs1":   cty.StringVal(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))),
		"pkcs8":   cty.StringVal(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))),
		"locked":  cty.StringVal(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1}}))),
		"garbage": cty.StringVal(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}))),
	}
	for _, k := range []string{"pkcs1", "pkcs8"} {
		got, err := call(t, `rsadecrypt(ct, `+k+`)`, vars)
		if err != nil || got.AsString() != "s3cret pässword" {
			t.Errorf("rsadecrypt with a %s key = %#v, %v", k, got, err)
		}
	}
	for src, want := range map[string]string{
		`rsadecrypt("%%%", pkcs1)`:             "the cipher text must be base64",
		`rsadecrypt(ct, "no key here")`:        "no PEM-encoded private key found",
		`rsadecrypt(ct, locked)`:               "password-protected keys are not supported",
		`rsadecrypt(ct, garbage)`:              "not an RSA private key",
		`rsadecrypt(base64encode("x"), pkcs1)`: "decrypt:",
	} {
		if _, err := call(t, src, vars); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
}

func dateVal(year, yday, day, month int, monthName string, wday int, wdayName string, hour, min, sec, isoYear, isoWeek int, extra string, v cty.Value) cty.Value {
	n := func(i int) cty.Value { return cty.NumberIntVal(int64(i)) }
	return cty.ObjectVal(map[string]cty.Value{
		"year": n(year), "year_day": n(yday), "day": n(day), "month": n(month), "month_name": cty.StringVal(monthName),
		"weekday": n(wday), "weekday_name": cty.StringVal(wdayName), "hour": n(hour), "minute": n(min), "second": n(sec),
		"iso_year": n(isoYear), "iso_week": n(isoWeek), extra: v,
	})
}

func TestDateParsing(t *testing.T) {
	july := dateVal(2023, 206, 25, 7, "July", 2, "Tuesday", 23, 43, 16, 2023, 30, "unix", cty.NumberIntVal(1690328596))
	december := dateVal(1996, 354, 19, 12, "December", 4, "Thursday", 16, 39, 57, 1996, 51, "unix", cty.NumberIntVal(851042397))
	runFuncCases(t, []funcCase{
		{src: `rfc3339_parse("2023-07-25T23:43:16Z")`, want: july},
		{src: `rfc3339_parse("2023-07-25 23:43:16Z")`, want: july},
		{src: `rfc3339_parse("2023-07-25T23:43:16.512345Z")`, want: july},
		// Parts are in the timestamp's own offset; unix is the instant.
		{src: `rfc3339_parse("1996-12-19T16:39:57-08:00")`, want: december},
		{src: `rfc3339_parse("1996-12-19 16:39:57.25-08:00")`, want: december},
		{src: `rfc3339_parse("abcdef")`, err: `"abcdef" is not a valid RFC3339 timestamp`},
		{src: `rfc3339_parse("2023-07-25")`, err: "is not a valid RFC3339 timestamp"},

		{src: `unix_timestamp_parse(1690328596)`, want: dateVal(2023, 206, 25, 7, "July", 2, "Tuesday", 23, 43, 16, 2023, 30,
			"rfc3339", cty.StringVal("2023-07-25T23:43:16Z"))},
		{src: `unix_timestamp_parse(0)`, want: dateVal(1970, 1, 1, 1, "January", 4, "Thursday", 0, 0, 0, 1970, 1,
			"rfc3339", cty.StringVal("1970-01-01T00:00:00Z"))},
		{src: `unix_timestamp_parse(-1)`, want: dateVal(1969, 365, 31, 12, "December", 3, "Wednesday", 23, 59, 59, 1970, 1,
			"rfc3339", cty.StringVal("1969-12-31T23:59:59Z"))},
		{src: `unix_timestamp_parse(1.5)`, err: "unix_timestamp must be a whole number of seconds"},
		{src: `rfc3339_parse(timestamp()).unix`, want: cty.NumberIntVal(testNow.Unix())},
	})
}

// The expected strings are what C's strftime (through Python's
// time.strftime, TZ=UTC) writes for the same times.
func TestLegacyStrftime(t *testing.T) {
	runFuncCases(t, []funcCase{
		{src: `legacy_strftime("%a|%A|%b|%B|%c|%C|%d|%D|%e|%F|%g|%G|%h|%H|%I|%j|%k|%l|%m|%M|%p|%P|%r|%R|%s|%S|%T|%u|%U|%V|%w|%W|%x|%X|%y|%Y|%z|%Z|%%")`,
			want: cty.StringVal("Wed|Wednesday|Mar|March|Wed Mar  4 05:06:07 2026|20|04|03/04/26| 4|2026-03-04|26|2026|Mar|05|05|063| 5| 5|03|06|AM|am|05:06:07 AM|05:06|1772600767|07|05:06:07|3|09|10|3|09|03/04/26|05:06:07|26|2026|+0000|UTC|%")},
		{src: `legacy_strftime("%Y%m%d-%H%M%S")`, want: cty.StringVal("20260304-050607")},
		{src: `legacy_strftime("tab%tnl%n%q%")`, want: cty.StringVal("tab\tnl\n%q%")},
		{src: `legacy_strftime()`, want: cty.StringVal("2026-03-04T05:06:07Z")},
		{src: `legacy_strftime("%Y", "%m")`, err: "at most one format"},
	})
	// Week numbers and 12-hour clocks at the edges of years and days.
	for ts, want := range map[string]string{
		"2027-01-01T00:00:00Z": "00 00 53 2026 26 001 5 5 12 12 AM",
		"2026-12-31T23:59:59Z": "52 52 53 2026 26 365 4 4 11 11 PM",
		"2024-12-30T13:00:00Z": "52 53 01 2025 25 365 1 1 01  1 PM",
	} {
		tt, err := call(t, `rfc3339_parse("`+ts+`").unix`, nil)
		if err != nil {
			t.Fatal(err)
		}
		sec, _ := tt.AsBigFloat().Int64()
		if got := strftime("%U %W %V %G %g %j %u %w %I %l %p", time.Unix(sec, 0).UTC()); got != want {
			t.Errorf("strftime at %s = %q, want %q", ts, got, want)
		}
	}
}

func TestUnsupportedFunctions(t *testing.T) {
	unknown := map[string]cty.Value{"u": cty.UnknownVal(cty.String), "d": cty.DynamicVal}
	for src, name := range map[string]string{
		`vault("/secret/data/hello", "foo")`: "vault",
		`vault(u, d)`:                        "vault",
		`consul_key("my/key")`:               "consul_key",
		`consul_key(u)`:                      "consul_key",
	} {
		_, err := call(t, src, unknown)
		want := "kiln does not support " + name + "() yet: kiln embeds no"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", src, err, want)
		}
	}
}

// packerFunctionNames are the functions Packer 1.16 registers in HCL2
// templates.
var packerFunctionNames = []string{
	"abs", "ceil", "floor", "log", "max", "min", "parseint", "pow", "signum",
	"chomp", "endswith", "format", "formatlist", "indent", "join", "lower", "regex", "regexall", "regex_replace",
	"replace", "split", "startswith", "strcontains", "strrev", "substr", "title", "trim", "trimprefix",
	"trimspace", "trimsuffix", "upper",
	"alltrue", "anytrue", "chunklist", "coalesce", "coalescelist", "compact", "concat", "contains", "distinct",
	"element", "flatten", "index", "keys", "length", "lookup", "merge", "range", "reverse", "setintersection",
	"setproduct", "setunion", "slice", "sort", "sum", "values", "zipmap",
	"base64decode", "base64encode", "base64gzip", "csvdecode", "jsondecode", "jsonencode", "textdecodebase64",
	"textencodebase64", "urlencode", "yamldecode", "yamlencode",
	"abspath", "basename", "dirname", "file", "filebase64", "fileexists", "fileset", "pathexpand", "templatefile",
	"formatdate", "legacy_isotime", "legacy_strftime", "rfc3339_parse", "timeadd", "timestamp", "unix_timestamp_parse",
	"bcrypt", "md5", "rsadecrypt", "sha1", "sha256", "sha512",
	"uuidv4", "uuidv5",
	"cidrhost", "cidrnetmask", "cidrsubnet", "cidrsubnets",
	"can", "convert", "try",
	"env", "vault", "consul_key",
}

// awsSecretFunctions are Packer's functions that belong to another issue.
var awsSecretFunctions = map[string]bool{"aws_secretsmanager": true, "aws_secretsmanager_raw": true}

func TestPackerFunctionsRegistered(t *testing.T) {
	have := (&Template{}).functions(true)
	var missing []string
	for _, name := range packerFunctionNames {
		if _, ok := have[name]; !ok && !awsSecretFunctions[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("Packer functions kiln lacks: %s", strings.Join(missing, ", "))
	}
}

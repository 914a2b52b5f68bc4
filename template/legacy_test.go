package template

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestLegacyRender(t *testing.T) {
	l := Legacy{
		Now:       time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600)),
		BuildName: "web",
		BuildType: "amazon-ebs",
		Data:      map[string]string{"BuildRegion": "eu-west-1", "SourceAMI": "ami-123", "SourceAMIName": "debian 12/amd64 (x)"},
	}
	cases := map[string]string{
		"plain {not a template}":                      "plain {not a template}",
		"ami-{{timestamp}}":                           "ami-1772597167",
		"{{ isotime \"2006-01-02\" }}":                "2026-03-04",
		"{{ isotime }}":                               "2026-03-04T04:06:07Z",
		"{{ build_name }}/{{ build_type }}":           "web/amazon-ebs",
		"{{ .BuildRegion }} from {{ .SourceAMI }}":    "eu-west-1 from ami-123",
		"{{ clean_resource_name .SourceAMIName }}":    "debian 12/amd64 (x)",
		"{{ clean_resource_name \"a:b*c\" }}":         "a-b-c",
		"{{ upper .BuildRegion }}-{{ lower \"AB\" }}": "EU-WEST-1-ab",
		"{{ split .BuildRegion \"-\" 1 }}":            "west",
		"{{ replace \"-\" \"_\" 1 .BuildRegion }}":    "eu_west-1",
		"{{ replace_all \"-\" \"_\" .BuildRegion }}":  "eu_west_1",
		"{{ .SourceAMI | upper }}":                    "AMI-123",
	}
	for in, want := range cases {
		got, err := l.Render(in)
		if err != nil || got != want {
			t.Errorf("Render(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	uuid, err := l.Render("{{ uuid }}")
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(uuid) {
		t.Errorf("uuid = %q, %v", uuid, err)
	}
	for in, want := range map[string]string{
		"{{ .Missing }}":              "Missing",
		"{{ split \"a-b\" \"-\" 5 }}": "out of range",
		"{{ nosuchfunc }}":            "nosuchfunc",
		"{{ isotime \"a\" \"b\" }}":   "at most one layout",
		// Actions whose cost is not bounded by the string's length.
		"{{ range 1000000000 }}{{ end }}":                 "range is not supported",
		"{{ if 1 }}{{ range . }}x{{ end }}{{ end }}":      "range is not supported",
		"{{ define \"a\" }}{{ template \"a\" }}{{ end }}": "define and block are not supported",
		"{{ template \"legacy\" }}":                       "template is not supported",
		"{{ replace \"\" \"xxxxxxxxxxxxxxxx\" -1 (replace_all \"\" \"xxxxxxxxxxxxxxxx\" (replace_all \"\" \"xxxxxxxxxxxxxxxx\" (replace_all \"\" \"xxxxxxxxxxxxxxxx\" (replace_all \"\" \"xxxxxxxxxxxxxxxx\" (replace_all \"\" \"xxxxxxxxxxxxxxxx\" \"abc\"))))) }}": "longer than",
		strings.Repeat("{{ isotime \"2006-01-02 15:04:05 2006-01-02 15:04:05\" }}", 40000): "longer than",
	} {
		if _, err := l.Render(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Render(%q) error = %v, want one containing %q", in, err, want)
		}
	}
	// Without data, fields are errors, not empty strings.
	if _, err := (Legacy{}).Render("{{ .SourceAMI }}"); err == nil {
		t.Error("a missing field rendered")
	}
}

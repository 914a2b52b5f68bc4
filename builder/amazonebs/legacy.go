package amazonebs

import (
	"strings"

	"github.com/kilnhq/kiln/template"
)

// render resolves Packer's legacy {{ .BuildRegion }}, {{ .SourceAMIName }},
// {{ timestamp }} and friends in s for region.
func (s *state) render(in, region string) (string, error) {
	if !strings.Contains(in, "{{") {
		return in, nil
	}
	return template.Legacy{
		Now:       s.now,
		BuildName: s.env.Info.Name,
		BuildType: Type,
		Data:      s.legacyData(region),
	}.Render(in)
}

// renderTags renders the keys and values of tags for region.
func (s *state) renderTags(tags map[string]string, region string) (map[string]string, error) {
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		rk, err := s.render(k, region)
		if err != nil {
			return nil, err
		}
		rv, err := s.render(v, region)
		if err != nil {
			return nil, err
		}
		out[rk] = rv
	}
	return out, nil
}

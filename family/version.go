package family

import (
	"fmt"

	"github.com/Masterminds/semver/v3"
)

// First is the version of a family's first image.
const First = "1.0.0"

// NextVersion returns the version a build with the policy ("auto", "minor",
// "major" or a semver version such as "1.4.0") takes, given the family's
// existing versions. A literal version that exists already is an error.
func NextVersion(existing []string, policy string) (string, error) {
	var newest *semver.Version
	for _, s := range existing {
		v, err := semver.StrictNewVersion(s)
		if err != nil {
			continue // not kiln's: ignored
		}
		if newest == nil || v.GreaterThan(newest) {
			newest = v
		}
	}
	switch policy {
	case "", "auto", "patch", "minor", "major":
		if newest == nil {
			return First, nil
		}
		var next semver.Version
		switch policy {
		case "minor":
			next = newest.IncMinor()
		case "major":
			next = newest.IncMajor()
		default:
			next = newest.IncPatch()
		}
		return next.String(), nil
	}
	v, err := semver.StrictNewVersion(policy)
	if err != nil {
		return "", fmt.Errorf("version %q: want auto, minor, major or a version such as 1.4.0: %w", policy, err)
	}
	for _, s := range existing {
		if e, err := semver.StrictNewVersion(s); err == nil && e.Equal(v) {
			return "", fmt.Errorf("version %s exists already: images are never replaced; give a new version", v)
		}
	}
	return v.String(), nil
}

// Bump returns the next patch version after v: the version a build takes
// when another build took v first.
func Bump(v string) (string, error) {
	sv, err := semver.StrictNewVersion(v)
	if err != nil {
		return "", fmt.Errorf("version %q: %w", v, err)
	}
	return sv.IncPatch().String(), nil
}

// CheckPolicy reports whether policy is a valid family version.
func CheckPolicy(policy string) error {
	switch policy {
	case "", "auto", "minor", "major":
		return nil
	}
	if _, err := semver.StrictNewVersion(policy); err != nil {
		return fmt.Errorf(`version %q: want "auto", "minor", "major" or a version such as "1.4.0"`, policy)
	}
	return nil
}

// DefaultName is the image name derived from a family and a version.
func DefaultName(family, version string) string { return family + "-" + version }

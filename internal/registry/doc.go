// Package registry is the mechanism behind kiln's component registries: a map
// from HCL type label to a factory, with database/sql's rules (nil or duplicate
// registration panics) and an unknown-name error that suggests the closest
// known name.
package registry

// Package artifact defines what a build produces: an image in a cloud, files on
// disk, or both. Builders return an Artifact; post-processors take one and may
// return another.
//
// It sits in kiln's contracts layer and imports only the standard library.
package artifact

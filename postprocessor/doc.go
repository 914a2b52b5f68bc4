// Package postprocessor defines the contract for components that act on a
// finished artifact (postprocessor/manifest, postprocessor/checksum,
// postprocessor/shelllocal) and their Registry keyed by HCL type label.
//
// It sits in kiln's contracts layer.
package postprocessor

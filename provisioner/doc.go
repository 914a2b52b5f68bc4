// Package provisioner defines the contract for components that change a
// machine during a build (provisioner/shell, provisioner/file,
// provisioner/shelllocal) and their Registry keyed by HCL type label.
//
// It sits in kiln's contracts layer.
package provisioner

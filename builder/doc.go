// Package builder defines the contract between kiln's build engine and the
// components that make images (builder/amazonebs, builder/qemu, builder/null):
// a Builder decoded from a source body, the Env it runs in (with the Image
// identity, name and lineage tags, when the engine decides them: a build with
// a family block, see package family), the Hook through which it hands a
// communicator to the provisioners, and the Registry keyed by HCL type label.
//
// It sits in kiln's contracts layer. Builders never import provisioners:
// provisioning reaches a builder only as the Hook.
package builder

// Package builder defines the contract between kiln's build engine and the
// components that make images (builder/amazonebs, builder/qemu, builder/null):
// a Builder decoded from a source body, the Env it runs in (with the Image
// identity, name and lineage tags, when the engine decides them: a build with
// a family block, see package family), the Hook through which it hands a
// communicator to the provisioners, and the Registry keyed by HCL type label.
// Optional abilities are separate interfaces found by type assertion:
// DataNamer (the build.* values a builder reports beyond every build's),
// and family.Builder and family.Tester for image families.
//
// A builder runs its steps with package step, through Env.Runner, so that
// the build's on-error policy, asker and cleanup stop apply to it as they do
// to kiln's own builders; examples/custom-builder is a builder written
// against these public packages only.
//
// It sits in kiln's contracts layer. Builders never import provisioners:
// provisioning reaches a builder only as the Hook.
package builder

// Package kiln bakes machine images from Packer-style HCL2 templates. It is
// the façade over kiln's layers: Load reads a template, Validate checks it
// against the components kiln embeds, and Build runs its builds, reporting
// what happens as typed events (package event) to a sink the caller chooses.
// The library never prints.
//
//	tpl, diags := kiln.Load("web.pkr.hcl", template.WithVars("version=1.2.0"))
//	if diags.HasErrors() {
//		tpl.WriteDiagnostics(os.Stderr, diags, false, 100)
//		return
//	}
//	res, err := kiln.Build(ctx, tpl, kiln.WithEvents(sink), kiln.WithParallelBuilds(2))
//
// Cancelling ctx stops the builds; each removes its temporary resources
// under a fresh context (see WithCleanupStop to cut that short).
//
// Besides building, the façade does what kiln clean and kiln images do.
// Clean sweeps the temporary resources that killed builds left behind
// (found by kiln's tags and the local journals), one sweep per builder
// type whose resources can outlive a process (today amazon-ebs), and
// reports each resource with its builder and kind. OpenCatalog opens the
// catalog of image families on AWS (AMIs and SSM channel parameters) or
// in a local output root; its Catalog lists versions with their channels,
// promotes, rolls back and prunes. Where and as whom they talk to AWS is
// the AWS struct (regions, profile); credentials and endpoints come from
// the SDK's usual sources, AWS_ENDPOINT_URL included.
//
// Lower
// layers are usable on their own: package template loads and checks
// templates, package build plans and runs them with any registries, and
// the component packages (builder/null, provisioner/shell, ...) can be
// registered in registries of one's own.
//
// The kiln command (cmd/kiln) is a thin layer over this package: it
// imports no component or internal package, only this one and the value
// and contract packages (event, step, template, family).
package kiln

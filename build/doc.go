// Package build is kiln's orchestration layer. Plan turns a loaded template
// into builds, one per (build block × source), filtered by -only and -except,
// with every component decoded and checked (build.* references included,
// against the names every build has and those its builder reports through
// builder.DataNamer): kiln validate stops there. Run runs the builds in
// parallel with a bound; a build without a family block decodes its source
// again for running, where a value still unknown is an error at its
// attribute (hclconf.ForRun); each build's builder calls back
// into the build's provisioners through a hook (with pause_before,
// max_retries, timeout, only/except and the error-cleanup-provisioner), then
// the post-processor chains run on its artifact. A build with a family
// block runs the family workflow instead of a plain builder run (family.go:
// resolve inputs, reuse unchanged inputs or pick a free version, bake it
// with its identity in builder.Env.Image, settle, test, promote, prune; see
// package family). Everything that happens is reported as events, with
// sensitive values redacted.
//
// It sits between the kiln façade (package kiln) and the contracts
// (builder, provisioner, postprocessor); it imports no concrete component:
// they come in through Registries.
package build

// Command kiln bakes machine images from Packer-style HCL2 templates.
//
// It is the thin face of the kiln library: it parses flags (spelled as Packer
// spells them, with one dash or two), turns signals into context
// cancellation, renders the library's events (coloured text on a terminal,
// plain text otherwise, or one JSON object per line with -json) and maps
// results to exit codes. Everything it does, a Go program can do with the
// kiln package: it calls the façade (package kiln: Build, Clean,
// OpenCatalog, ...) and uses value packages (event, step, template,
// family), never a builder/... or internal/... package directly
// (TestFacadeOnly watches this, TestDeps that no test machinery is linked
// in).
//
// Exit codes: 0 success; 1 a build failed or the template has errors
// (validate); 2 usage or template error (build); 3 fmt -check found a file
// that is not formatted; 130 interrupted (SIGINT, SIGTERM or SIGHUP, which all
// cancel and clean up alike).
package main

// Package shelllocal is kiln's "shell-local" post-processor: it runs
// commands or scripts on the machine kiln runs on once a build has produced
// its artifact, with Packer's shell-local options, and passes the artifact on
// unchanged. The work is done by internal/localexec.
//
// It sits in kiln's components layer; kiln.DefaultRegistries registers New under
// the type label "shell-local".
package shelllocal

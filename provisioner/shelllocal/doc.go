// Package shelllocal is kiln's "shell-local" provisioner: it runs commands or
// scripts on the machine kiln runs on, during provisioning, with Packer's
// shell-local options. The work is done by internal/localexec.
//
// It sits in kiln's components layer; kiln.DefaultRegistries registers New under
// the type label "shell-local".
package shelllocal

package main

import (
	"flag"

	"github.com/kilnhq/kiln/template"
)

// loadFlags are the flags that say how a template is loaded.
type loadFlags struct {
	vars, varFiles listFlag
}

func (l *loadFlags) register(fs *flag.FlagSet) {
	fs.Var(&l.vars, "var", "set a variable: -var `name=value` (repeatable; later ones win)")
	fs.Var(&l.varFiles, "var-file", "read variables from the HCL `file` (repeatable; later files win)")
}

func (l *loadFlags) options() []template.LoadOption {
	var opts []template.LoadOption
	if len(l.vars) > 0 {
		opts = append(opts, template.WithVars(l.vars...))
	}
	if len(l.varFiles) > 0 {
		opts = append(opts, template.WithVarFiles(l.varFiles...))
	}
	return opts
}

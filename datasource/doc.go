// Package datasource is the contract of kiln's data sources: the components
// behind a template's data "TYPE" "NAME" blocks, which look something up
// (an AMI, a parameter, a URL) before anything is built.
//
// A data source decodes its own block body (two-phase, as builders do) with
// a Factory, which has no side effects and tolerates values not yet known.
// Its output type is known without I/O, so that kiln validate can check
// references to data.TYPE.NAME.ATTR while the values are still unknown;
// Execute does the lookup. Implementations live in sub-packages (amazonami,
// amazonparameterstore, http, null) and are registered by type label in a
// Registry, as the kiln package's DefaultDataSources does.
//
// It sits in the contracts layer: it imports hcl, cty and kiln's registry,
// never the template package, which declares the narrow interface it needs
// and is handed the registry by the kiln package.
package datasource

// Package null is the "null" builder: it makes no machine. It connects to an
// existing host with the communicator options of its source block, runs the
// build's provisioners there and produces no image, as Packer's null builder
// does. With communicator = "none" it runs the provisioners without a
// communicator (only local ones, such as shell-local, can then work).
//
// It sits in kiln's components layer; builder.Registry wires it in under the
// type label "null".
package null

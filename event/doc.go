// Package event defines the typed values that every layer of kiln emits while
// it works, and the Sink they are sent to.
//
// The library never prints. Builders, provisioners, post-processors and the
// build engine describe what they do as events; the kiln CLI renders them
// (coloured text on a terminal, or one JSON object per line with -json) and a
// Go program that embeds kiln handles them itself.
//
// event sits at the bottom of kiln's layers: it imports only the standard
// library, and every other package may import it.
package event

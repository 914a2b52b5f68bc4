// Package commtest is a conformance suite for communicator.Communicator
// implementations: Run checks commands (output, input, exit statuses,
// cancellation, concurrency) and transfers (files, modes, large files, and
// trees when the communicator is a communicator.DirTransferer), comparing
// checksums on both sides.
//
// The remote side must offer a POSIX shell with mktemp, stat (GNU), and
// sha256sum, as any Linux machine kiln builds does. Each check works in its
// own remote temporary directory and removes it afterwards.
//
// It sits in kiln's proof layer: only tests import it.
package commtest

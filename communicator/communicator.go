package communicator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// Cmd is a command to run on the remote machine.
type Cmd struct {
	// Command is passed to the remote shell as is.
	Command string
	// Stdin, Stdout and Stderr may be nil.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Communicator runs commands on, and moves files to and from, one machine.
// Implementations are safe for concurrent use.
type Communicator interface {
	// Run runs cmd and waits for it. A command that exits non-zero returns an
	// *ExitError; a connection lost before the command finished returns an
	// error that wraps ErrDisconnected.
	Run(ctx context.Context, cmd *Cmd) error
	// Upload writes the contents of r to the remote file dst with the given
	// mode. size is the number of bytes r will yield, or -1 if unknown.
	Upload(ctx context.Context, dst string, r io.Reader, size int64, mode fs.FileMode) error
	// Download copies the remote file src to w.
	Download(ctx context.Context, src string, w io.Writer) error
}

// DirTransferer is implemented by communicators that move whole directory
// trees themselves (faster than file by file through the interface).
type DirTransferer interface {
	// UploadDir copies the local directory src to the remote directory dst,
	// creating dst and its parents.
	UploadDir(ctx context.Context, dst, src string) error
	// DownloadDir copies the remote directory src to the local directory dst.
	DownloadDir(ctx context.Context, src, dst string) error
}

// Closer is implemented by communicators that hold a connection.
type Closer interface {
	Close() error
}

// ErrDisconnected is wrapped by errors caused by a connection that went away,
// for example because the machine rebooted. A provisioner that expects a
// disconnect treats it as success; the next call reconnects.
var ErrDisconnected = errors.New("communicator: connection lost")

// ExitError reports a remote command that exited with a non-zero status.
type ExitError struct {
	Command string
	Status  int
	// Signal is set when the command was killed by a signal.
	Signal string
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("killed by signal %s", e.Signal)
	}
	return fmt.Sprintf("exit status %d", e.Status)
}

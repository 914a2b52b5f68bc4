package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
)

// transfer moves files over one connection by one method (sftp or scp).
// Each Comm call opens one and closes it afterwards; closing it early aborts
// what it is doing, which is how ctx cancels a transfer.
type transfer interface {
	// upload writes r to dst. offset > 0 continues an upload that a lost
	// connection cut short, keeping the first offset bytes of dst; only a
	// transfer whose upload failed with a *partialError is asked to.
	upload(dst string, r io.Reader, size int64, mode fs.FileMode, offset int64) error
	// download copies src to w, calling sized (when not nil) with src's
	// size once it is known.
	download(src string, w io.Writer, sized func(int64)) error
	// uploadDir copies the tree under src into dst, creating dst.
	uploadDir(dst, src string, p *progress) error
	// downloadDir copies the remote tree under src into dst, creating dst.
	downloadDir(src, dst string, p *progress) error
	close()
}

// ReportsProgress reports whether the Comm emits event.Progress for its
// transfers: it does when ConnectOptions.Events was set. It implements
// communicator.ProgressReporter, so callers do not count the bytes twice.
func (c *Comm) ReportsProgress() bool { return c.reportsProgress }

// maxResumes bounds how often one upload continues after a lost connection.
const maxResumes = 3

// partialError reports an upload that failed after its first written bytes
// had safely reached the remote file.
type partialError struct {
	written int64
	err     error
}

func (e *partialError) Error() string { return e.err.Error() }
func (e *partialError) Unwrap() error { return e.err }

// Upload writes r to the remote file dst with mode, creating dst's parent
// directories. The mode is set exactly, whatever the remote umask.
//
// Over SFTP, when the connection is lost mid-way and r is an io.Seeker (an
// *os.File, a *bytes.Reader), Upload reconnects and continues from the last
// byte the server acknowledged, up to maxResumes times, with a warning
// event each time. Otherwise the error wraps communicator.ErrDisconnected.
func (c *Comm) Upload(ctx context.Context, dst string, r io.Reader, size int64, mode fs.FileMode) error {
	p := c.progress("upload "+dst, size)
	seeker, _ := r.(io.Seeker)
	var base int64
	if seeker != nil {
		var err error
		if base, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seeker = nil
		}
	}
	var offset int64
	for resumes := 0; ; resumes++ {
		err := c.transfer(ctx, "upload "+dst, true, func(t transfer) error {
			return t.upload(dst, p.reader(r), size, mode, offset)
		})
		var pe *partialError
		if err == nil || seeker == nil || resumes == maxResumes || ctx.Err() != nil ||
			!errors.Is(err, communicator.ErrDisconnected) || !errors.As(err, &pe) {
			return p.finish(err)
		}
		if _, serr := seeker.Seek(base+pe.written, io.SeekStart); serr != nil {
			return p.finish(err)
		}
		offset = pe.written
		p.done.Store(offset)
		c.warn(fmt.Sprintf("upload %s: connection lost after %d bytes were stored; reconnecting to continue from there", dst, offset))
	}
}

// Download copies the remote file src to w.
func (c *Comm) Download(ctx context.Context, src string, w io.Writer) error {
	p := c.progress("download "+src, -1)
	err := c.transfer(ctx, "download "+src, false, func(t transfer) error {
		return t.download(src, p.writer(w), p.setTotal)
	})
	return p.finish(err)
}

// UploadDir copies the local directory tree src into the remote directory
// dst, creating dst and its parents, with each file's and directory's mode.
// Symbolic links are followed; a link to a directory is an error.
func (c *Comm) UploadDir(ctx context.Context, dst, src string) error {
	total, err := treeSize(src)
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", src, dst, err)
	}
	p := c.progress("upload "+src+" to "+dst, total)
	err = c.transfer(ctx, "upload "+src+" to "+dst, true, func(t transfer) error {
		return t.uploadDir(dst, src, p)
	})
	return p.finish(err)
}

// DownloadDir copies the remote directory tree src into the local directory
// dst, creating dst, with each file's and directory's mode.
func (c *Comm) DownloadDir(ctx context.Context, src, dst string) error {
	p := c.progress("download "+src+" to "+dst, -1)
	err := c.transfer(ctx, "download "+src+" to "+dst, false, func(t transfer) error {
		return t.downloadDir(src, dst, p)
	})
	return p.finish(err)
}

// transfer runs do with a fresh transfer over the current connection;
// upload says which way the bytes mostly flow.
func (c *Comm) transfer(ctx context.Context, doing string, upload bool, do func(transfer) error) error {
	cn, t, err := openOn(ctx, c, func(cn *conn) (transfer, error) {
		if c.cfg.transferMethod() == MethodSCP {
			return &scpTransfer{comm: c, cn: cn}, nil
		}
		return newSFTPTransfer(cn, upload)
	})
	if cn == nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	if err != nil {
		return c.failed(cn, doing+": start transfer", err)
	}
	stop := context.AfterFunc(ctx, t.close)
	err = do(t)
	cancelled := !stop()
	t.close()
	if cancelled {
		return fmt.Errorf("%s: %w", doing, context.Cause(ctx))
	}
	if err == nil {
		return nil
	}
	var se *sftp.StatusError
	var pe *fs.PathError
	if errors.As(err, &se) || errors.As(err, &pe) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return c.failed(cn, doing, err)
}

// treeSize adds up the sizes of the regular files under dir.
func treeSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.Mode().IsRegular() {
			total += st.Size()
		}
		return nil
	})
	return total, err
}

// progressEvery is the least time between two progress events of a task.
const progressEvery = 250 * time.Millisecond

// progress counts the bytes of one transfer and reports them as
// event.Progress, at most every progressEvery and once at the end.
type progress struct {
	sink  event.Sink
	task  string
	total int64
	done  atomic.Int64
	last  atomic.Int64 // unix nanoseconds of the last event
}

func (c *Comm) progress(task string, total int64) *progress {
	p := &progress{sink: c.events, task: task, total: total}
	p.last.Store(time.Now().UnixNano())
	return p
}

// setTotal sets the total once it is known, before any byte is counted.
func (p *progress) setTotal(n int64) { p.total = n }

func (p *progress) add(n int) {
	d := p.done.Add(int64(n))
	now := time.Now().UnixNano()
	last := p.last.Load()
	if now-last >= int64(progressEvery) && p.last.CompareAndSwap(last, now) {
		p.sink.Emit(&event.Progress{Task: p.task, Done: d, Total: p.total, Unit: "bytes"})
	}
}

// finish emits the final event on success and returns err.
func (p *progress) finish(err error) error {
	if err == nil {
		d := p.done.Load()
		p.sink.Emit(&event.Progress{Task: p.task, Done: d, Total: d, Unit: "bytes"})
	}
	return err
}

func (p *progress) reader(r io.Reader) io.Reader { return &countingReader{r: r, p: p} }
func (p *progress) writer(w io.Writer) io.Writer { return &countingWriter{w: w, p: p} }

type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(n)
	return n, err
}

type countingWriter struct {
	w io.Writer
	p *progress
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.p.add(n)
	return n, err
}

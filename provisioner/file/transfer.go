package file

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/progress"
	"github.com/kilnhq/kiln/internal/shellrun"
)

// counter returns a progress counter for task, silent when the
// communicator reports its own transfers.
func (t *transfer) counter(task string, total int64) *progress.Counter {
	sink := t.env.Events
	if pr, ok := t.comm.(communicator.ProgressReporter); ok && pr.ReportsProgress() {
		sink = event.Discard
	}
	return progress.NewCounter(sink, task, total)
}

// uploadContent writes data to the remote file dst.
func (t *transfer) uploadContent(ctx context.Context, data []byte, dst string) error {
	t.say("uploading content => %s", dst)
	c := t.counter("upload "+dst, int64(len(data)))
	r := &progress.Reader{R: bytes.NewReader(data), C: c}
	if err := t.comm.Upload(ctx, dst, r, int64(len(data)), 0o644); err != nil {
		return fmt.Errorf("upload content to %s: %w", dst, err)
	}
	c.Finish()
	return nil
}

// uploadFile uploads one local file, counting its bytes on c, or on a
// counter of its own when c is nil.
func (t *transfer) uploadFile(ctx context.Context, src, dst string, info fs.FileInfo, c *progress.Counter) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	own := c == nil
	if own {
		c = t.counter("upload "+src, info.Size())
	}
	if err := t.comm.Upload(ctx, dst, &progress.Reader{R: f, C: c}, info.Size(), info.Mode().Perm()); err != nil {
		return err
	}
	if own {
		c.Finish()
	}
	return nil
}

// uploadDir copies the tree under the local src into the remote dst: with
// the communicator's own directory transfer when it has one, else file by
// file after creating the directories.
func (t *transfer) uploadDir(ctx context.Context, src, dst string) error {
	var dirs, files []string
	var total int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			dirs = append(dirs, rel)
		case d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0:
			info, err := os.Stat(p) // follows a symlink to its file
			if err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return fmt.Errorf("%s: only regular files and directories can be uploaded", p)
			}
			files = append(files, rel)
			total += info.Size()
		default:
			return fmt.Errorf("%s: only regular files and directories can be uploaded", p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c := t.counter("upload "+src, total)
	if dt, ok := t.comm.(communicator.DirTransferer); ok {
		c.Add(0)
		if err := dt.UploadDir(ctx, dst, src); err != nil {
			return err
		}
		c.Add(int(total))
		c.Finish()
		return nil
	}
	if err := t.mkdirs(ctx, dst, dirs); err != nil {
		return err
	}
	for _, rel := range files {
		local := filepath.Join(src, rel)
		info, err := os.Stat(local)
		if err != nil {
			return err
		}
		if err := t.uploadFile(ctx, local, path.Join(dst, filepath.ToSlash(rel)), info, c); err != nil {
			return fmt.Errorf("upload %s: %w", local, err)
		}
	}
	c.Finish()
	return nil
}

// maxCommand bounds one mkdir command line, well under any ARG_MAX.
const maxCommand = 64 << 10

// mkdirs creates the remote directories dst/rel for every rel, in as few
// commands as fit.
func (t *transfer) mkdirs(ctx context.Context, dst string, rels []string) error {
	cmd := ""
	flush := func() error {
		if cmd == "" {
			return nil
		}
		err := t.comm.Run(ctx, &communicator.Cmd{Command: "mkdir -p" + cmd})
		cmd = ""
		if err != nil {
			return fmt.Errorf("create remote directories: %w", err)
		}
		return nil
	}
	for _, rel := range rels {
		arg := " " + shellrun.Quote(path.Join(dst, filepath.ToSlash(rel)))
		if len(cmd)+len(arg) > maxCommand {
			if err := flush(); err != nil {
				return err
			}
		}
		cmd += arg
	}
	return flush()
}

// downloadFile copies the remote src to the local dst, through a temporary
// file so a failed download leaves no partial dst.
func (t *transfer) downloadFile(ctx context.Context, src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".kiln-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	c := t.counter("download "+src, -1)
	if err := t.comm.Download(ctx, src, &progress.Writer{W: f, C: c}); err != nil {
		f.Close()
		return err
	}
	c.Finish()
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}

// downloadDir copies the remote tree under src into the local dst: with the
// communicator's own directory transfer when it has one, else as a tar
// stream from the machine.
func (t *transfer) downloadDir(ctx context.Context, src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if dt, ok := t.comm.(communicator.DirTransferer); ok {
		return dt.DownloadDir(ctx, src, dst)
	}
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		err := t.comm.Run(ctx, &communicator.Cmd{Command: "tar -C " + shellrun.Quote(src) + " -cf - .", Stdout: pw, Stderr: &stderr})
		pw.CloseWithError(err)
		done <- err
	}()
	c := t.counter("download "+src, -1)
	xerr := t.untar(&progress.Reader{R: pr, C: c}, dst)
	if xerr == nil {
		// tar pads the archive after its end marker; let it finish.
		_, xerr = io.Copy(io.Discard, pr)
	}
	pr.CloseWithError(errors.New("extraction stopped"))
	runErr := <-done
	if runErr != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			runErr = fmt.Errorf("%w: %s", runErr, msg)
		}
		// xerr, if any, says why extraction stopped, which may be what
		// ended the command.
		return errors.Join(fmt.Errorf("tar on the machine: %w", runErr), xerr)
	}
	if xerr != nil {
		return xerr
	}
	c.Finish()
	return nil
}

// untar extracts regular files and directories from r under dst. Entries
// that would land outside dst are refused; links are skipped with a warning.
func (t *transfer) untar(r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar stream: %w", err)
		}
		name := path.Clean(h.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("refusing tar entry outside the destination: %q", h.Name)
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		mode := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, mode|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		default:
			t.env.Events.Emit(&event.Message{Level: event.Warn, Text: fmt.Sprintf("%s: skipped %s: only regular files and directories are downloaded", t.env.Source, h.Name)})
		}
	}
}

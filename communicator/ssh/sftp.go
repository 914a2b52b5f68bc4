package ssh

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pkg/sftp"
	"golang.org/x/sync/errgroup"
)

// SFTP tuning. Uploads write 252 KiB per request (OpenSSH's sftp-server
// takes up to 255 KiB; a server that takes less fails the write loudly).
// Downloads read 32 KiB per request, the size every server must serve:
// pkg/sftp's concurrent reads mishandle a server's short reads.
const (
	sftpWritePacket = 252 * 1024
	sftpReadPacket  = 32 * 1024
	sftpInFlight    = 64
	sftpFilesAtOnce = 8 // files of a tree uploaded in parallel
)

// sftpTransfer is one SFTP session.
type sftpTransfer struct {
	c *sftp.Client
}

// newSFTPTransfer starts an SFTP session tuned for uploads or downloads.
func newSFTPTransfer(cn *conn, upload bool) (*sftpTransfer, error) {
	packet := sftpReadPacket
	if upload {
		packet = sftpWritePacket
	}
	c, err := sftp.NewClient(cn.client,
		sftp.UseConcurrentWrites(true),
		sftp.UseConcurrentReads(true),
		sftp.MaxConcurrentRequestsPerFile(sftpInFlight),
		sftp.MaxPacketUnchecked(packet),
	)
	if err != nil {
		return nil, err
	}
	return &sftpTransfer{c: c}, nil
}

func (s *sftpTransfer) close() { s.c.Close() }

// remotePath makes a path that starts with ~/ relative, which SFTP takes as
// relative to the login directory (SFTP does not expand ~).
func remotePath(p string) string {
	switch {
	case p == "~":
		return "."
	case strings.HasPrefix(p, "~/"):
		return p[2:]
	}
	return p
}

func (s *sftpTransfer) upload(dst string, r io.Reader, _ int64, mode fs.FileMode, offset int64) error {
	dst = remotePath(dst)
	if err := s.mkdirAll(path.Dir(dst)); err != nil {
		return err
	}
	return s.put(dst, r, mode, offset)
}

// put writes r to dst from offset on, then sets dst's mode. When writing
// fails, the error is a *partialError that says how many bytes of dst are
// known to be written: writes go out concurrently, and only those below the
// first failed one are sure.
func (s *sftpTransfer) put(dst string, r io.Reader, mode fs.FileMode, offset int64) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if offset > 0 {
		flags = os.O_WRONLY
	}
	f, err := s.c.OpenFile(dst, flags)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	if offset > 0 {
		// Later writes may have landed beyond offset; drop them.
		if err := f.Truncate(offset); err != nil {
			f.Close()
			return &partialError{written: offset, err: fmt.Errorf("truncate %s: %w", dst, err)}
		}
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.ReadFromWithConcurrency(r, 0); err != nil {
		safe, _ := f.Seek(0, io.SeekCurrent)
		f.Close()
		return &partialError{written: safe, err: fmt.Errorf("write %s: %w", dst, err)}
	}
	if err := f.Chmod(mode.Perm()); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", dst, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", dst, err)
	}
	return nil
}

func (s *sftpTransfer) mkdirAll(dir string) error {
	if dir == "." || dir == "/" || dir == "" {
		return nil
	}
	if err := s.c.MkdirAll(dir); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	return nil
}

func (s *sftpTransfer) download(src string, w io.Writer, sized func(int64)) error {
	src = remotePath(src)
	f, err := s.c.Open(src)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer f.Close()
	if sized != nil {
		if st, err := f.Stat(); err == nil {
			sized(st.Size())
		}
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	return nil
}

func (s *sftpTransfer) uploadDir(dst, src string, p *progress) error {
	dst = remotePath(dst)
	if err := s.mkdirAll(dst); err != nil {
		return err
	}
	var g errgroup.Group
	g.SetLimit(sftpFilesAtOnce)
	err := walkLocal(src, func(rel string, st fs.FileInfo) error {
		remote := path.Join(dst, filepath.ToSlash(rel))
		if st.IsDir() {
			if err := s.c.Mkdir(remote); err != nil {
				if fi, serr := s.c.Stat(remote); serr != nil || !fi.IsDir() {
					return fmt.Errorf("create directory %s: %w", remote, err)
				}
			}
			return s.c.Chmod(remote, st.Mode().Perm())
		}
		local := filepath.Join(src, rel)
		g.Go(func() error {
			f, err := os.Open(local)
			if err != nil {
				return err
			}
			defer f.Close()
			return s.put(remote, p.reader(f), st.Mode(), 0)
		})
		return nil
	})
	if gerr := g.Wait(); err == nil {
		err = gerr
	}
	return err
}

func (s *sftpTransfer) downloadDir(src, dst string, p *progress) error {
	src = remotePath(src)
	w := s.c.Walk(src)
	for w.Step() {
		if err := w.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, w.Path())
		if err != nil {
			return err
		}
		local := filepath.Join(dst, filepath.FromSlash(rel))
		st := w.Stat()
		if st.Mode()&fs.ModeSymlink != 0 {
			if st, err = s.c.Stat(w.Path()); err != nil {
				return err
			}
			if st.IsDir() {
				return fmt.Errorf("%s is a symbolic link to a directory; links to directories are not copied", w.Path())
			}
		}
		if st.IsDir() {
			if err := mkdirMode(local, st.Mode()); err != nil {
				return err
			}
			continue
		}
		if err := s.get(w.Path(), local, st.Mode(), p); err != nil {
			return err
		}
	}
	return nil
}

func (s *sftpTransfer) get(remote, local string, mode fs.FileMode, p *progress) error {
	f, err := os.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode.Perm())
	if err != nil {
		return err
	}
	if err := s.download(remote, p.writer(f), nil); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode.Perm()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// mkdirMode creates dir (and parents) and gives dir the mode perm.
func mkdirMode(dir string, mode fs.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Chmod(dir, mode.Perm())
}

// walkLocal calls fn for every directory and file under root (not root
// itself), parents before children, with the path relative to root and the
// followed file info. Links to directories are an error.
func walkLocal(root string, fn func(rel string, st fs.FileInfo) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 && st.IsDir() {
			return fmt.Errorf("%s is a symbolic link to a directory; links to directories are not copied", p)
		}
		if !st.IsDir() && !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file or directory", p)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return fn(rel, st)
	})
}

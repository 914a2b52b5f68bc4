package ssh

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"
)

// scpTransfer speaks the scp protocol to a remote `scp -t` (sink) or
// `scp -f` (source), one session per call.
type scpTransfer struct {
	comm *Comm
	cn   *conn

	mu     sync.Mutex
	sess   *gossh.Session
	closed bool
}

// scpStream is a running remote scp process.
type scpStream struct {
	sess   *gossh.Session
	in     io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer
}

func (t *scpTransfer) start(command string) (*scpStream, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("scp: transfer cancelled")
	}
	sess, err := t.comm.newSession(t.cn)
	if err != nil {
		return nil, err
	}
	s := &scpStream{sess: sess}
	sess.Stderr = &s.stderr
	if s.in, err = sess.StdinPipe(); err != nil {
		sess.Close()
		return nil, err
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	s.out = bufio.NewReaderSize(out, 64*1024)
	if err := sess.Start(command); err != nil {
		sess.Close()
		return nil, err
	}
	t.sess = sess
	return s, nil
}

func (t *scpTransfer) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.sess != nil {
		t.sess.Close()
	}
}

// finish closes stdin and waits for the remote scp; a failure includes what
// it wrote to stderr.
func (s *scpStream) finish(err error) error {
	s.in.Close()
	werr := s.sess.Wait()
	s.sess.Close()
	if err == nil {
		err = werr
	}
	if err != nil && s.stderr.Len() > 0 {
		return fmt.Errorf("%w (remote: %s)", err, strings.TrimSpace(s.stderr.String()))
	}
	return err
}

// ack reads the remote's answer to the last message: 0 is fine, 1 and 2
// carry an error message.
func (s *scpStream) ack() error {
	b, err := s.out.ReadByte()
	if err != nil {
		return fmt.Errorf("scp: read reply: %w", err)
	}
	if b == 0 {
		return nil
	}
	msg, _ := s.out.ReadString('\n')
	return fmt.Errorf("scp: remote: %s", strings.TrimSpace(msg))
}

func (s *scpStream) send(format string, args ...any) error {
	if _, err := fmt.Fprintf(s.in, format, args...); err != nil {
		return fmt.Errorf("scp: send: %w", err)
	}
	return s.ack()
}

// sendFile sends one file record and its contents.
func (s *scpStream) sendFile(name string, mode fs.FileMode, size int64, r io.Reader) error {
	if err := s.send("C%04o %d %s\n", mode.Perm(), size, name); err != nil {
		return err
	}
	if n, err := io.CopyN(s.in, r, size); err != nil {
		return fmt.Errorf("scp: send %s: %d of %d bytes: %w", name, n, size, err)
	}
	if _, err := s.in.Write([]byte{0}); err != nil {
		return fmt.Errorf("scp: send: %w", err)
	}
	return s.ack()
}

// shellQuote quotes p for a POSIX shell, keeping a leading ~/ expandable.
func shellQuote(p string) string {
	prefix := ""
	if p == "~" {
		return p
	}
	if strings.HasPrefix(p, "~/") {
		prefix, p = "~/", p[2:]
	}
	return prefix + "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}

// upload sends r as one file; scp cannot continue a file, so offset is
// always 0 (its errors are never *partialError).
func (t *scpTransfer) upload(dst string, r io.Reader, size int64, mode fs.FileMode, _ int64) error {
	if size < 0 {
		// scp announces the size first: spool to learn it.
		tmp, err := os.CreateTemp("", "kiln-scp-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if size, err = io.Copy(tmp, r); err != nil {
			return err
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		r = tmp
	}
	q := shellQuote(dst)
	s, err := t.start(fmt.Sprintf("mkdir -p -- %s && scp -t -- %s && chmod %04o -- %s", shellQuote(path.Dir(dst)), q, mode.Perm(), q))
	if err != nil {
		return err
	}
	err = s.ack()
	if err == nil {
		err = s.sendFile(path.Base(dst), mode, size, r)
	}
	return s.finish(err)
}

func (t *scpTransfer) uploadDir(dst, src string, p *progress) error {
	q := shellQuote(dst)
	s, err := t.start(fmt.Sprintf("mkdir -p -- %s && scp -r -t -- %s", q, q))
	if err != nil {
		return err
	}
	err = s.ack()
	if err == nil {
		err = s.sendTree(src, p)
	}
	return s.finish(err)
}

// sendTree sends the contents of the local directory dir.
func (s *scpStream) sendTree(dir string, p *progress) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		local := filepath.Join(dir, e.Name())
		st, err := os.Stat(local)
		if err != nil {
			return err
		}
		switch {
		case st.IsDir() && e.Type()&fs.ModeSymlink != 0:
			return fmt.Errorf("%s is a symbolic link to a directory; links to directories are not copied", local)
		case st.IsDir():
			if err := s.send("D%04o 0 %s\n", st.Mode().Perm(), e.Name()); err != nil {
				return err
			}
			if err := s.sendTree(local, p); err != nil {
				return err
			}
			if err := s.send("E\n"); err != nil {
				return err
			}
		case st.Mode().IsRegular():
			f, err := os.Open(local)
			if err != nil {
				return err
			}
			err = s.sendFile(e.Name(), st.Mode(), st.Size(), p.reader(f))
			f.Close()
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s is not a regular file or directory", local)
		}
	}
	return nil
}

func (t *scpTransfer) download(src string, w io.Writer, sized func(int64)) error {
	s, err := t.start("scp -f -- " + shellQuote(src))
	if err != nil {
		return err
	}
	err = s.receive(func(rec scpRecord) (bool, error) {
		if rec.kind != 'C' {
			return false, fmt.Errorf("scp: %s is a directory", src)
		}
		if sized != nil {
			sized(rec.size)
		}
		return true, rec.copyTo(s, w)
	})
	return s.finish(err)
}

func (t *scpTransfer) downloadDir(src, dst string, p *progress) error {
	s, err := t.start("scp -r -f -- " + shellQuote(src))
	if err != nil {
		return err
	}
	// The first record is src itself, which becomes dst.
	var stack []string
	err = s.receive(func(rec scpRecord) (bool, error) {
		switch rec.kind {
		case 'D':
			dir := dst
			if len(stack) > 0 {
				dir = filepath.Join(stack[len(stack)-1], rec.name)
			}
			stack = append(stack, dir)
			return false, mkdirMode(dir, rec.mode)
		case 'E':
			if len(stack) == 0 {
				return false, errors.New("scp: unbalanced end of directory")
			}
			stack = stack[:len(stack)-1]
			return len(stack) == 0, nil
		}
		if len(stack) == 0 {
			return false, fmt.Errorf("scp: %s is a file, not a directory", src)
		}
		local := filepath.Join(stack[len(stack)-1], rec.name)
		f, err := os.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, rec.mode.Perm())
		if err != nil {
			return false, err
		}
		err = rec.copyTo(s, p.writer(f))
		if err == nil {
			err = f.Chmod(rec.mode.Perm())
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return false, err
	})
	return s.finish(err)
}

// scpRecord is one control record from a remote scp source.
type scpRecord struct {
	kind byte // 'C' file, 'D' directory, 'E' end of directory
	mode fs.FileMode
	size int64
	name string
}

// receive reads records, calling fn for each, until fn says it was the
// last or the source ends; fn must consume a file's contents (copyTo).
func (s *scpStream) receive(fn func(scpRecord) (last bool, err error)) error {
	if _, err := s.in.Write([]byte{0}); err != nil {
		return fmt.Errorf("scp: %w", err)
	}
	for {
		line, err := s.out.ReadString('\n')
		if err == io.EOF && line == "" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("scp: read record: %w", err)
		}
		rec, err := parseSCPRecord(line)
		if err != nil {
			return err
		}
		// A 'T' record carries times (scp -p); they are not kept.
		last := false
		if rec.kind != 'T' {
			if last, err = fn(rec); err != nil {
				return err
			}
		}
		if _, err := s.in.Write([]byte{0}); err != nil {
			return fmt.Errorf("scp: %w", err)
		}
		if last {
			return nil
		}
	}
}

func parseSCPRecord(line string) (scpRecord, error) {
	line = strings.TrimSuffix(line, "\n")
	if line == "" {
		return scpRecord{}, errors.New("scp: empty record")
	}
	rec := scpRecord{kind: line[0]}
	switch rec.kind {
	case 1, 2:
		return rec, fmt.Errorf("scp: remote: %s", line[1:])
	case 'E', 'T':
		return rec, nil
	case 'C', 'D':
		fields := strings.SplitN(line[1:], " ", 3)
		if len(fields) != 3 {
			return rec, fmt.Errorf("scp: malformed record %q", line)
		}
		m, err1 := strconv.ParseUint(fields[0], 8, 32)
		size, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil || size < 0 || fields[2] == "" || strings.ContainsAny(fields[2], "/\x00") || fields[2] == ".." {
			return rec, fmt.Errorf("scp: malformed record %q", line)
		}
		rec.mode, rec.size, rec.name = fs.FileMode(m).Perm(), size, fields[2]
		return rec, nil
	}
	return rec, fmt.Errorf("scp: unexpected record %q", line)
}

// copyTo copies the file's contents, and reads the status byte after them.
func (rec scpRecord) copyTo(s *scpStream, w io.Writer) error {
	if _, err := s.in.Write([]byte{0}); err != nil {
		return fmt.Errorf("scp: %w", err)
	}
	if n, err := io.CopyN(w, s.out, rec.size); err != nil {
		return fmt.Errorf("scp: receive %s: %d of %d bytes: %w", rec.name, n, rec.size, err)
	}
	return s.ack()
}

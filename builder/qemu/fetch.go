package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/progress"
)

// fetcher finds the source image: a local file is used where it is, an
// http(s) URL is downloaded into a cache directory, resuming a partial
// download, and reused by later builds once verified.
type fetcher struct {
	cacheDir string
	client   *http.Client
	events   event.Sink
}

// defaultCacheDir is where downloads go: $XDG_CACHE_HOME/kiln/downloads.
func defaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the download cache: %w", err)
	}
	return filepath.Join(dir, "kiln", "downloads"), nil
}

// fetch returns the local path of the first of urls that can be had and
// matches sum.
func (f *fetcher) fetch(ctx context.Context, urls []string, sum checksum) (string, error) {
	var errs []error
	for _, u := range urls {
		p, err := f.fetchOne(ctx, u, sum)
		if err == nil {
			return p, nil
		}
		if ctx.Err() != nil {
			return "", err
		}
		errs = append(errs, err)
		if len(urls) > 1 {
			f.events.Emit(&event.Message{Level: event.Warn, Text: fmt.Sprintf("source image %s: %v; trying the next URL", u, err)})
		}
	}
	return "", errors.Join(errs...)
}

func (f *fetcher) fetchOne(ctx context.Context, raw string, sum checksum) (string, error) {
	remote, local, err := splitLocation(raw)
	if err != nil {
		return "", err
	}
	name := path.Base(raw)
	if remote != nil {
		name = path.Base(remote.Path)
	}
	if sum.file != "" {
		sum, err = f.checksumFromList(ctx, sum.file, name)
		if err != nil {
			return "", err
		}
	}
	if remote == nil {
		if _, err := os.Stat(local); err != nil {
			return "", fmt.Errorf("source image: %w", err)
		}
		if err := sum.verify(local); err != nil {
			return "", fmt.Errorf("verify source image: %w", err)
		}
		return local, nil
	}
	return f.download(ctx, remote, name, sum)
}

// splitLocation tells an http(s) URL from a local path (plain or file://).
func splitLocation(raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err == nil {
		switch u.Scheme {
		case "http", "https":
			return u, "", nil
		case "file":
			return nil, u.Path, nil
		case "":
		default:
			if len(u.Scheme) > 1 { // not a Windows drive letter
				return nil, "", fmt.Errorf("source image %s: scheme %q is not supported (use a path, file://, http:// or https://)", raw, u.Scheme)
			}
		}
	}
	abs, err := filepath.Abs(raw)
	if err != nil {
		return nil, "", fmt.Errorf("source image %s: %w", raw, err)
	}
	return nil, abs, nil
}

// checksumFromList reads a checksum list (a path or URL) and returns the
// entry for name.
func (f *fetcher) checksumFromList(ctx context.Context, where, name string) (checksum, error) {
	remote, local, err := splitLocation(where)
	if err != nil {
		return checksum{}, err
	}
	var r io.ReadCloser
	if remote != nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, remote.String(), nil)
		if err != nil {
			return checksum{}, fmt.Errorf("checksum list %s: %w", where, err)
		}
		resp, err := f.client.Do(req)
		if err != nil {
			return checksum{}, fmt.Errorf("checksum list: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return checksum{}, fmt.Errorf("checksum list %s: %s", where, resp.Status)
		}
		r = resp.Body
	} else {
		if r, err = os.Open(local); err != nil {
			return checksum{}, fmt.Errorf("checksum list: %w", err)
		}
	}
	defer r.Close()
	sum, err := fromList(io.LimitReader(r, 4<<20), name)
	if err != nil {
		return checksum{}, fmt.Errorf("checksum list %s: %w", where, err)
	}
	return sum, nil
}

// download fetches u into the cache, resuming a partial download, and
// verifies it. A cached complete file that still matches is reused.
func (f *fetcher) download(ctx context.Context, u *url.URL, name string, sum checksum) (string, error) {
	if err := os.MkdirAll(f.cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("download cache: %w", err)
	}
	key := sha256.Sum256([]byte(u.String()))
	dst := filepath.Join(f.cacheDir, hex.EncodeToString(key[:8])+"-"+name)
	if _, err := os.Stat(dst); err == nil {
		if err := sum.verify(dst); err == nil {
			f.events.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("using cached %s for %s", dst, u.Redacted())})
			return dst, nil
		}
		if err := os.Remove(dst); err != nil {
			return "", fmt.Errorf("remove stale download: %w", err)
		}
	}
	part := dst + ".part"
	pf, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", u.Redacted(), err)
	}
	defer pf.Close()
	// Another build may be downloading the same file: wait for it.
	if err := lockFile(ctx, pf); err != nil {
		return "", fmt.Errorf("download %s: %w", u.Redacted(), err)
	}
	if _, err := os.Stat(dst); err == nil { // the other build finished it
		if err := sum.verify(dst); err == nil {
			return dst, nil
		}
	}
	if err := f.get(ctx, u, pf); err != nil {
		return "", err
	}
	if err := sum.verify(part); err != nil {
		// A corrupt partial download must not be resumed.
		os.Remove(part)
		return "", fmt.Errorf("verify download: %w", err)
	}
	if err := os.Rename(part, dst); err != nil {
		return "", fmt.Errorf("download %s: %w", u.Redacted(), err)
	}
	return dst, nil
}

// get appends the rest of u to pf, from pf's current size on.
func (f *fetcher) get(ctx context.Context, u *url.URL, pf *os.File) error {
	have, err := pf.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("download %s: %w", u.Redacted(), err)
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		f.events.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("resuming download of %s at %d bytes", u.Redacted(), have)})
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		return nil // already complete; the checksum will tell
	case resp.StatusCode == http.StatusOK:
		if err := pf.Truncate(0); err != nil {
			return err
		}
		if _, err := pf.Seek(0, io.SeekStart); err != nil {
			return err
		}
		have = 0
	default:
		return fmt.Errorf("download %s: %s", u.Redacted(), resp.Status)
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = have + resp.ContentLength
	}
	c := progress.NewCounter(f.events, "download "+u.Redacted(), total)
	c.Add(int(have))
	if _, err := io.Copy(&progress.Writer{W: pf, C: c}, resp.Body); err != nil {
		return fmt.Errorf("download %s: %w", u.Redacted(), err)
	}
	c.Finish()
	if total >= 0 {
		if st, err := pf.Stat(); err == nil && st.Size() != total {
			return fmt.Errorf("download %s: got %d of %d bytes", u.Redacted(), st.Size(), total)
		}
	}
	return nil
}

// lockFile takes an exclusive flock on f, polling so that ctx can end the
// wait.
func lockFile(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

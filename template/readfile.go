package template

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Size limits of the files kiln reads while loading a template. A larger
// file is refused with its size rather than read into memory.
const (
	// MaxTemplateFileSize bounds each template file and var file.
	MaxTemplateFileSize = 16 << 20
	// MaxFunctionFileSize bounds each file read by file, filebase64 and
	// templatefile.
	MaxFunctionFileSize = 64 << 20
)

// ReadFile reads a template file or var file as Load does: a regular file
// of at most MaxTemplateFileSize bytes; anything else is an error that names
// the file and the reason. Tools that read template files themselves (a
// formatter) use it to refuse the same files.
func ReadFile(path string) ([]byte, error) {
	return readBounded(path, MaxTemplateFileSize)
}

// readBounded reads the regular file at path, of at most limit bytes.
// Anything else (a named pipe, a device, a socket, a directory) is refused
// before it is opened for reading, so that a pipe without a writer or an
// endless device cannot block or exhaust memory. The error names the file
// and the reason.
func readBounded(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	if err := checkRegular(path, fi, limit); err != nil {
		return nil, err
	}
	// O_NONBLOCK: should the file have been swapped for a pipe since the
	// Stat, the open returns at once and the check of the open file below
	// refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fileError(path, err)
	}
	if err := checkRegular(path, fi, limit); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fileError(path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s grew past the %s limit while being read", path, formatSize(limit))
	}
	return b, nil
}

// checkRegular refuses a file that is not regular or is larger than limit.
func checkRegular(path string, fi fs.FileInfo, limit int64) error {
	if kind := fileKind(fi.Mode()); kind != "" {
		return fmt.Errorf("%s is %s, not a regular file", path, kind)
	}
	if fi.Size() > limit {
		return fmt.Errorf("%s is %s, more than the %s limit", path, formatSize(fi.Size()), formatSize(limit))
	}
	return nil
}

// fileKind names the kind of a file that is not regular; "" for a regular
// file.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return ""
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	default:
		return "a special file"
	}
}

// fileError says why path could not be read, naming it once: the
// *fs.PathError of os already names it.
func fileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", path, pe.Err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// formatSize writes n bytes in binary units ("16 MiB", "1.5 TiB"), or in
// bytes below 1 KiB.
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %ciB", int64(v), "KMGTPE"[exp])
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[exp])
}

package source

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

// fileSource reads a local file or block device. It implements io.ReaderAt
// directly and io.Closer for its shared descriptor.
type fileSource struct {
	path string
	f    *os.File // serves ReadAt
	size int64
}

var (
	_ Source      = (*fileSource)(nil)
	_ io.ReaderAt = (*fileSource)(nil)
)

// newFile opens path. Regular files and block devices get ranges; pipes and
// character devices are read as streams, like stdin.
func newFile(path string) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open source file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("stat source file: %w", err)
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		return &fileSource{path: path, f: f, size: fi.Size()}, nil
	case m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0:
		size, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("size of block device %s: %w", path, err)
		}
		return &fileSource{path: path, f: f, size: size}, nil
	case m.IsDir():
		_ = f.Close()
		return nil, fmt.Errorf("source %s is a directory", path)
	default:
		return newStream(path, f, f), nil
	}
}

// Open implements Source. Each reader has its own descriptor, so readers
// may run in parallel; it implements io.WriterTo so that io.Copy into a
// file can use copy_file_range.
func (s *fileSource) Open(_ context.Context, off, length int64) (io.ReadCloser, error) {
	end, empty, err := resolveRange(s.path, s.size, true, off, length)
	if err != nil {
		return nil, err
	}
	if empty {
		return io.NopCloser(strings.NewReader("")), nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("open source file: %w", err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("seek %s to %d: %w", s.path, off, err)
	}
	return &fileReader{f: f, lr: io.LimitedReader{R: f, N: end - off}}, nil
}

// ReadAt implements io.ReaderAt.
func (s *fileSource) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }

// Size implements Source.
func (s *fileSource) Size() int64 { return s.size }

// Ranges implements Source.
func (s *fileSource) Ranges() bool { return true }

// String implements Source.
func (s *fileSource) String() string { return s.path }

// Close closes the descriptor that serves ReadAt.
func (s *fileSource) Close() error { return s.f.Close() }

// fileReader is a section of a file with its own descriptor.
type fileReader struct {
	f  *os.File
	lr io.LimitedReader
}

func (r *fileReader) Read(p []byte) (int, error) { return r.lr.Read(p) }

// WriteTo hands the *io.LimitedReader of an *os.File to io.Copy, which
// lets an *os.File destination use copy_file_range or splice.
func (r *fileReader) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, &r.lr) }

func (r *fileReader) Close() error { return r.f.Close() }

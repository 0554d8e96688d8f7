package source

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// streamSource is a source read once from the start: standard input, a
// pipe. It has no size and no ranges.
type streamSource struct {
	name   string
	r      io.Reader
	closer io.Closer // nil for stdin, which the process owns

	mu     sync.Mutex
	opened bool
}

var _ Source = (*streamSource)(nil)

func newStream(name string, r io.Reader, closer io.Closer) *streamSource {
	return &streamSource{name: name, r: r, closer: closer}
}

// Open implements Source. It succeeds once, at offset 0; a length limits
// the reader to that many bytes.
func (s *streamSource) Open(_ context.Context, off, length int64) (io.ReadCloser, error) {
	if off != 0 {
		return nil, fmt.Errorf("%s: cannot open at offset %d: %w", s.name, off, ErrNoRanges)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened {
		return nil, fmt.Errorf("%s is a stream and can be opened only once", s.name)
	}
	s.opened = true
	r := s.r
	if length >= 0 {
		r = io.LimitReader(r, length)
	}
	return io.NopCloser(r), nil
}

// Size implements Source: a stream's size is unknown.
func (s *streamSource) Size() int64 { return -1 }

// Ranges implements Source.
func (s *streamSource) Ranges() bool { return false }

// String implements Source.
func (s *streamSource) String() string { return s.name }

// Close closes the underlying pipe or device, if the source opened it.
func (s *streamSource) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

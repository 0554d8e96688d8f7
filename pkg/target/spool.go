package target

import (
	"fmt"
	"os"
)

// Spool is a scratch file a stream is copied to so that it can be read at
// random offsets: a qcow2 image that arrives compressed, inside a tar, or
// from a server without range requests.
//
// A Spool is sparse and bounded. Zero blocks are not written (the file
// starts as a hole, so a run of zeros costs a seek, not space), writes
// reaching beyond its limit fail with ErrCapacity, and so do writes that
// would store more data than its file system had free when it was created.
// A few megabytes of xz or tar holding a mostly empty image thus neither
// write gigabytes of zeros nor fill the disk.
type Spool struct {
	d    *Disk
	path string
}

// CreateSpool creates a spool in the directory dir that may hold limit
// bytes (its size, holes included). It first removes the spools an
// interrupted import left in dir.
func CreateSpool(dir string, limit int64) (*Spool, error) {
	if err := removeMatching(dir, isSpool); err != nil {
		return nil, fmt.Errorf("scratch space: %w", err)
	}
	free, err := freeSpace(dir)
	if err != nil {
		return nil, fmt.Errorf("scratch space %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, spoolPattern)
	if err != nil {
		return nil, fmt.Errorf("scratch space %s: %w", dir, err)
	}
	return &Spool{
		d:    &Disk{f: f, temp: f.Name(), limit: limit, alloc: free, holder: "the scratch space"},
		path: f.Name(),
	}, nil
}

// WriteAt writes p at off, leaving aligned zero blocks as holes. It is safe
// for concurrent use on disjoint ranges.
func (s *Spool) WriteAt(p []byte, off int64) (int, error) { return s.d.WriteAt(p, off) }

// Written is the number of bytes stored (holes excluded).
func (s *Spool) Written() int64 { return s.d.Written() }

// Finish gives the spool its size (a trailing run of zeros was skipped,
// not written) and closes it for writing; read it through Path.
func (s *Spool) Finish(size int64) error {
	if s.d.closed {
		return fmt.Errorf("spool %s: already closed", s.path)
	}
	s.d.closed = true
	err := s.d.f.Truncate(size)
	if cerr := s.d.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool %s: %w", s.path, err)
	}
	return nil
}

// Path is the file name of the spool.
func (s *Spool) Path() string { return s.path }

// Remove closes the spool if it is open and deletes it.
func (s *Spool) Remove() {
	if !s.d.closed {
		s.d.closed = true
		s.d.f.Close()
	}
	os.Remove(s.path)
}

package clonestream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// zeroBlock is the granularity of zero detection: aligned blocks of this
// many zero bytes in the data become holes.
const zeroBlock = 4096

// extent is a piece of logical content: data (in a buffer valid until
// the next call of the callback) or, with data nil, a hole of n bytes.
type extent struct {
	off, n int64
	data   []byte
}

// scanner finds the extents of an image file or device, or of a tree's
// file: holes from SEEK_DATA/SEEK_HOLE where the file system knows them,
// and every aligned block of zeros it reads. It only reads.
type scanner struct {
	f    *os.File
	size int64
	// seek: the file system answers SEEK_DATA (a block device does not).
	seek bool
	buf  []byte
	zero []byte
}

func newScanner(f *os.File, size int64, seek bool) *scanner {
	return &scanner{f: f, size: size, seek: seek, buf: make([]byte, ChunkSize), zero: make([]byte, zeroBlock)}
}

// scan calls emit for every extent from offset from to the end, in order:
// data extents of at most ChunkSize that never cross a multiple of it,
// and holes as long as they come.
func (s *scanner) scan(ctx context.Context, from int64, emit func(extent) error) error {
	var hole extent
	flush := func() error {
		if hole.n == 0 {
			return nil
		}
		h := hole
		hole = extent{}
		return emit(h)
	}
	addHole := func(off, n int64) {
		if hole.n == 0 {
			hole.off = off
		}
		hole.n += n
	}
	pos := from
	for pos < s.size {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, end, err := s.nextData(pos)
		if err != nil {
			return err
		}
		if data > pos {
			addHole(pos, data-pos)
			pos = data
		}
		for pos < end {
			n := min(end, (pos/ChunkSize+1)*ChunkSize) - pos
			b := s.buf[:n]
			if _, err := s.f.ReadAt(b, pos); err != nil {
				if errors.Is(err, io.EOF) {
					err = fmt.Errorf("the source is shorter than %d bytes", s.size)
				}
				return fmt.Errorf("read the source at %d: %w", pos, err)
			}
			// Split into data and aligned zero blocks.
			for i := int64(0); i < n; {
				j := min(n, i+zeroBlock-(pos+i)%zeroBlock)
				if bytes.Equal(b[i:j], s.zero[:j-i]) {
					addHole(pos+i, j-i)
					i = j
					continue
				}
				for j < n {
					k := min(n, j+zeroBlock)
					if bytes.Equal(b[j:k], s.zero[:k-j]) {
						break
					}
					j = k
				}
				if err := flush(); err != nil {
					return err
				}
				if err := emit(extent{off: pos + i, n: j - i, data: b[i:j]}); err != nil {
					return err
				}
				i = j
			}
			pos += n
		}
	}
	return flush()
}

// nextData returns the start and end of the next data region at or after
// pos: [data, end). Without SEEK_DATA everything is data (zero blocks are
// found by reading).
func (s *scanner) nextData(pos int64) (int64, int64, error) {
	if !s.seek {
		return pos, s.size, nil
	}
	fd := int(s.f.Fd())
	data, err := unix.Seek(fd, pos, unix.SEEK_DATA)
	switch {
	case errors.Is(err, unix.ENXIO):
		return s.size, s.size, nil // a hole to the end
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
		s.seek = false
		return pos, s.size, nil
	case err != nil:
		return 0, 0, fmt.Errorf("find data in the source from %d: %w", pos, err)
	}
	end, err := unix.Seek(fd, data, unix.SEEK_HOLE)
	if err != nil {
		return 0, 0, fmt.Errorf("find a hole in the source from %d: %w", data, err)
	}
	return min(data, s.size), min(end, s.size), nil
}

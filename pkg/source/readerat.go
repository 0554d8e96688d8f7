package source

import (
	"context"
	"fmt"
	"io"
)

// NewReaderAt returns an io.ReaderAt over src: src itself when it is one (a
// local file), else one ranged Open per ReadAt. Reads end at the size of
// the source with io.EOF, as io.ReaderAt requires. A source without ranges
// fails every ReadAt with ErrNoRanges. Calls may run in parallel.
func NewReaderAt(ctx context.Context, src Source) io.ReaderAt {
	if ra, ok := src.(io.ReaderAt); ok {
		return ra
	}
	return &rangeReaderAt{ctx: ctx, src: src}
}

type rangeReaderAt struct {
	ctx context.Context
	src Source
}

func (r *rangeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !r.src.Ranges() {
		return 0, fmt.Errorf("%s: read at %d: %w", r.src, off, ErrNoRanges)
	}
	if size := r.src.Size(); size >= 0 && off >= size {
		return 0, io.EOF
	}
	rc, err := r.src.Open(r.ctx, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if err == io.ErrUnexpectedEOF || err == io.EOF { //nolint:errorlint // io.ReadFull's own sentinels, not wrapped failures
		// The range was cut at the end of the object.
		return n, io.EOF
	}
	return n, err
}

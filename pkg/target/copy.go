package target

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// copyBuffer is the size of the reads Copy makes: big enough that zero
// detection and system calls are cheap per byte.
const copyBuffer = 1 << 20

// Copy writes everything r yields to w, starting at offset 0, and returns the
// number of bytes copied. Only io.EOF ends the copy: any other error,
// io.ErrUnexpectedEOF from a truncated compressed stream included, fails it.
// It stops when ctx is done.
func Copy(ctx context.Context, w io.WriterAt, r io.Reader) (int64, error) {
	buf := make([]byte, copyBuffer)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return off, err
		}
		n, rerr := fill(r, buf)
		if n > 0 {
			if _, err := w.WriteAt(buf[:n], off); err != nil {
				return off, err
			}
			off += int64(n)
		}
		if errors.Is(rerr, io.EOF) {
			return off, nil
		}
		if rerr != nil {
			return off, fmt.Errorf("read at %d: %w", off, rerr)
		}
	}
}

// fill reads into buf until it is full, r fails or r ends (io.EOF).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

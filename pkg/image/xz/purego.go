package xz

import (
	"bufio"
	"fmt"
	"io"
	"math"

	rootxz "github.com/therootcompany/xz"
)

// pureGoInBuf is the read size towards the source: the decoder itself reads
// 8 KiB at a time, which costs a system call each on a file.
const pureGoInBuf = 1 << 20

// pureGoReader decodes with github.com/therootcompany/xz, a Go translation
// of XZ Embedded. It is compiled in every build so tests can compare it with
// liblzma; without cgo it is the one NewReader returns.
type pureGoReader struct {
	src     *countingReader
	dictMax uint32
	dec     *rootxz.Reader // nil until the first Read
	out     int64          // decompressed bytes returned
	err     error          // sticky: io.EOF after the end, or the first failure
}

// newPureGo returns a pure-Go decoder reading r. Options.Threads is ignored;
// Options.MemLimit caps the dictionary size.
func newPureGo(r io.Reader, opts Options) (*pureGoReader, error) {
	opts, err := opts.resolved()
	if err != nil {
		return nil, err
	}
	return &pureGoReader{
		src:     &countingReader{r: bufio.NewReaderSize(r, pureGoInBuf)},
		dictMax: uint32(min(opts.MemLimit, math.MaxUint32)),
	}, nil
}

// Read decodes into p. The first Read parses the first stream header.
func (d *pureGoReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.dec == nil {
		dec, err := rootxz.NewReader(d.src, d.dictMax)
		if err != nil {
			if d.src.n == 0 && err == rootxz.ErrBuf {
				d.err = fmt.Errorf("%w: the input is empty", ErrTruncated)
				return 0, d.err
			}
			d.err = d.errorFor(err, true)
			return 0, d.err
		}
		d.dec = dec
	}
	n, err := d.dec.Read(p)
	d.out += int64(n)
	switch {
	case err == io.EOF:
		d.err = io.EOF
	case err != nil:
		d.err = d.errorFor(err, false)
	}
	return n, d.err
}

// Close releases the decoder's buffers. Reads after Close fail with
// ErrClosed.
func (d *pureGoReader) Close() error {
	d.dec = nil
	d.err = ErrClosed
	return nil
}

// errorFor maps a therootcompany/xz error to this package's errors. A format
// error after the first stream header means the data following a stream is
// neither padding nor another stream: corruption, as liblzma reports it.
func (d *pureGoReader) errorFor(err error, first bool) error {
	var kind error
	switch err {
	case rootxz.ErrFormat:
		kind = ErrFormat
		if !first {
			kind = ErrCorrupt
		}
	case rootxz.ErrData:
		kind = ErrCorrupt
	case rootxz.ErrBuf:
		kind = ErrTruncated
	case rootxz.ErrMemlimit:
		kind = fmt.Errorf("%w: a stream's dictionary is larger than %d MiB", ErrMemLimit, d.dictMax>>20)
	case rootxz.ErrOptions:
		kind = fmt.Errorf("%w: a filter or option is not supported by the pure-Go decoder", ErrUnsupported)
	case rootxz.ErrUnsupportedCheck:
		kind = fmt.Errorf("%w: the integrity check type is not supported", ErrUnsupported)
	default:
		return fmt.Errorf("read xz input at byte %d: %w", d.src.n, err)
	}
	return fmt.Errorf("%w (after reading %d compressed bytes, %d decompressed)", kind, d.src.n, d.out)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

// Read reads from the underlying reader and counts what it got.
func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

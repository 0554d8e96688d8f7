package image

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// gzip header flags (RFC 1952, section 2.3.1).
const (
	gzipFlagHCRC     = 1 << 1
	gzipFlagExtra    = 1 << 2
	gzipFlagName     = 1 << 3
	gzipFlagComment  = 1 << 4
	gzipFlagReserved = 0xe0
)

// gzipReader decompresses a gzip stream of one or more concatenated members
// (RFC 1952). Unlike compress/gzip, which refuses a file name or comment
// longer than its 512-byte buffer, it skips the optional header fields
// (FEXTRA, FNAME, FCOMMENT) whatever their length, without holding them in
// memory, as gzip(1) does. Every member's CRC-32 and length are verified.
// Zero bytes after the last member (padding added by tape tools) are
// ignored, as gzip(1) ignores them; anything else after the last member is
// an error.
type gzipReader struct {
	r      *bufio.Reader
	flate  io.ReadCloser
	digest uint32
	size   uint32
	err    error
}

// newGzipReader reads the header of the first member of r.
func newGzipReader(r io.Reader) (*gzipReader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	z := &gzipReader{r: br}
	if err := z.header(); err != nil {
		return nil, err
	}
	return z, nil
}

// header reads a member header and starts decompressing its body.
func (z *gzipReader) header() error {
	h := crc32.NewIEEE()
	var fixed [10]byte
	if _, err := io.ReadFull(z.r, fixed[:]); err != nil {
		return fmt.Errorf("%w: %w", gzip.ErrHeader, noEOF(err))
	}
	h.Write(fixed[:])
	if fixed[0] != 0x1f || fixed[1] != 0x8b || fixed[2] != 8 {
		return fmt.Errorf("%w: a member starts with % x, not 1f 8b 08", gzip.ErrHeader, fixed[:3])
	}
	flags := fixed[3]
	if flags&gzipFlagReserved != 0 {
		return fmt.Errorf("%w: reserved flag bits %#x are set", gzip.ErrHeader, flags&gzipFlagReserved)
	}
	if flags&gzipFlagExtra != 0 {
		var xlen [2]byte
		if _, err := io.ReadFull(z.r, xlen[:]); err != nil {
			return fmt.Errorf("%w: extra field: %w", gzip.ErrHeader, noEOF(err))
		}
		h.Write(xlen[:])
		n := int64(binary.LittleEndian.Uint16(xlen[:]))
		if _, err := io.CopyN(h, z.r, n); err != nil {
			return fmt.Errorf("%w: extra field of %d bytes: %w", gzip.ErrHeader, n, noEOF(err))
		}
	}
	for _, f := range []struct {
		flag byte
		name string
	}{{gzipFlagName, "file name"}, {gzipFlagComment, "comment"}} {
		if flags&f.flag == 0 {
			continue
		}
		if err := skipString(z.r, h); err != nil {
			return fmt.Errorf("%w: %s: %w", gzip.ErrHeader, f.name, noEOF(err))
		}
	}
	if flags&gzipFlagHCRC != 0 {
		var sum [2]byte
		if _, err := io.ReadFull(z.r, sum[:]); err != nil {
			return fmt.Errorf("%w: header CRC: %w", gzip.ErrHeader, noEOF(err))
		}
		if binary.LittleEndian.Uint16(sum[:]) != uint16(h.Sum32()) {
			return fmt.Errorf("%w: header CRC mismatch", gzip.ErrHeader)
		}
	}
	z.digest, z.size = 0, 0
	if z.flate == nil {
		z.flate = flate.NewReader(z.r)
	} else if err := z.flate.(flate.Resetter).Reset(z.r, nil); err != nil {
		return fmt.Errorf("gzip: reset the deflate decoder: %w", err)
	}
	return nil
}

// skipString discards a NUL-terminated header field, passing its bytes
// (the NUL included) to h.
func skipString(r *bufio.Reader, h io.Writer) error {
	for {
		b, err := r.ReadSlice(0)
		h.Write(b)
		if err == nil {
			return nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// Read implements io.Reader.
func (z *gzipReader) Read(p []byte) (int, error) {
	for z.err == nil {
		n, err := z.flate.Read(p)
		z.digest = crc32.Update(z.digest, crc32.IEEETable, p[:n])
		z.size += uint32(n)
		if err != io.EOF { //nolint:errorlint // io.Reader returns io.EOF itself
			if err != nil {
				z.err = err
			}
			return n, err
		}
		// The member ended: check it and move to the next one.
		if z.err = z.trailer(); z.err == nil {
			z.err = z.next()
		}
		if n > 0 {
			if z.err == io.EOF { //nolint:errorlint // set by next, unwrapped
				return n, nil
			}
			return n, z.err
		}
	}
	return 0, z.err
}

// trailer checks the CRC-32 and size that end a member.
func (z *gzipReader) trailer() error {
	var t [8]byte
	if _, err := io.ReadFull(z.r, t[:]); err != nil {
		return noEOF(err)
	}
	if binary.LittleEndian.Uint32(t[:4]) != z.digest || binary.LittleEndian.Uint32(t[4:]) != z.size {
		return gzip.ErrChecksum
	}
	return nil
}

// next starts the following member; it returns io.EOF at the end of the
// stream. Zero padding may end the stream, as gzip(1) allows, but nothing
// may follow it: gzip(1) would ignore a member there, with a warning.
func (z *gzipReader) next() error {
	padding := false
	for {
		b, err := z.r.Peek(max(1, z.r.Buffered()))
		if len(b) == 0 {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return err
		}
		zeros := 0
		for zeros < len(b) && b[zeros] == 0 {
			zeros++
		}
		switch {
		case zeros == 0 && padding:
			return fmt.Errorf("%w: data follows the zero padding after the last member", gzip.ErrHeader)
		case zeros == 0:
			return z.header()
		}
		padding = true
		if _, err := z.r.Discard(zeros); err != nil {
			return err
		}
	}
}

// Close releases the decoder; it does not close the underlying reader.
func (z *gzipReader) Close() error {
	if z.flate != nil {
		return z.flate.Close()
	}
	return nil
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF: inside a member, the end of
// the stream means it was cut short.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

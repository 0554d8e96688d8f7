package qcow2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

// decompressor inflates one compressed cluster. It is not safe for
// concurrent use; each worker has its own.
type decompressor interface {
	// decompress fills dst (one cluster) from src, the compressed bytes,
	// which may be followed by unrelated bytes. The zstd decoder may scribble
	// on up to decompressSlack bytes of dst's capacity past its length.
	decompress(dst, src []byte) error
	close()
}

func newDecompressor(t CompressionType) (decompressor, error) {
	switch t {
	case CompressionDeflate:
		return &inflater{}, nil
	case CompressionZstd:
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(zstdMaxMemory))
		if err != nil {
			return nil, fmt.Errorf("create zstd decoder: %w", err)
		}
		return &unzstd{d: d}, nil
	default:
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedCompression, uint8(t))
	}
}

// inflater decodes qemu's zlib compression: raw deflate.
type inflater struct {
	br bytes.Reader
	r  io.ReadCloser
}

// decompress accepts, like qemu, a stream that fills the cluster whether or
// not its end is within src; it refuses one that would produce more.
func (d *inflater) decompress(dst, src []byte) error {
	d.br.Reset(src)
	if d.r == nil {
		d.r = flate.NewReader(&d.br)
	} else if err := d.r.(flate.Resetter).Reset(&d.br, nil); err != nil {
		return fmt.Errorf("%w: deflate: %v", ErrCompressedCluster, err)
	}
	if _, err := io.ReadFull(d.r, dst); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: deflate data ends before a full cluster", ErrCompressedCluster)
		}
		return fmt.Errorf("%w: deflate: %v", ErrCompressedCluster, err)
	}
	var one [1]byte
	if n, _ := io.ReadFull(d.r, one[:]); n > 0 {
		return fmt.Errorf("%w: deflate data decompresses to more than a cluster", ErrCompressedCluster)
	}
	return nil
}

func (d *inflater) close() {}

// zstdMaxMemory bounds the window a zstd frame may declare and what a frame
// may decode to before the decoder gives up; the cluster size is checked
// after each frame.
const zstdMaxMemory = 8 << 20

// decompressSlack is spare capacity after a cluster's output that lets the
// zstd decoder use its fast copies (they write whole 32-byte blocks) for
// most blocks.
const decompressSlack = 64

// unzstd decodes zstd clusters. Like qemu, it decodes whole frames until the
// cluster is full; the last frame must end exactly there. Bytes after it are
// ignored.
type unzstd struct{ d *zstd.Decoder }

func (z *unzstd) decompress(dst, src []byte) error {
	out := dst[:0]
	for len(out) < len(dst) {
		n, err := zstdFrameLen(src)
		if err != nil {
			return fmt.Errorf("%w: zstd: %v", ErrCompressedCluster, err)
		}
		res, err := z.d.DecodeAll(src[:n], out)
		if err != nil {
			return fmt.Errorf("%w: zstd: %v", ErrCompressedCluster, err)
		}
		if len(res) > len(dst) || (len(res) > 0 && &res[0] != &dst[0]) {
			return fmt.Errorf("%w: zstd data decompresses to more than a cluster", ErrCompressedCluster)
		}
		out = res
		src = src[n:]
	}
	return nil
}

func (z *unzstd) close() { z.d.Close() }

// zstd frame constants (RFC 8878).
const (
	zstdMagic         = 0xFD2FB528
	zstdSkippableMask = 0xFFFFFFF0
	zstdSkippable     = 0x184D2A50
	zstdMaxBlock      = 128 << 10
)

// zstdFrameLen returns the length of the zstd frame (or skippable frame) at
// the start of b, by walking its block headers.
func zstdFrameLen(b []byte) (int, error) {
	le := binary.LittleEndian
	if len(b) < 4 {
		return 0, errors.New("data ends before a frame")
	}
	m := le.Uint32(b)
	if m&zstdSkippableMask == zstdSkippable {
		if len(b) < 8 {
			return 0, errors.New("data ends inside a skippable frame header")
		}
		n := 8 + int64(le.Uint32(b[4:]))
		if n > int64(len(b)) {
			return 0, errors.New("data ends inside a skippable frame")
		}
		return int(n), nil
	}
	if m != zstdMagic {
		return 0, fmt.Errorf("bad frame magic %#x", m)
	}
	if len(b) < 5 {
		return 0, errors.New("data ends inside a frame header")
	}
	fhd := b[4]
	if fhd&(1<<3) != 0 {
		return 0, errors.New("reserved frame header bit set")
	}
	single := fhd&(1<<5) != 0
	pos := 5
	if !single {
		pos++ // window descriptor
	}
	pos += [4]int{0, 1, 2, 4}[fhd&3] // dictionary id
	switch fcs := fhd >> 6; {
	case fcs == 0 && single:
		pos++
	case fcs == 1:
		pos += 2
	case fcs == 2:
		pos += 4
	case fcs == 3:
		pos += 8
	}
	for {
		if pos+3 > len(b) {
			return 0, errors.New("data ends inside a block header")
		}
		bh := uint32(b[pos]) | uint32(b[pos+1])<<8 | uint32(b[pos+2])<<16
		pos += 3
		size := int(bh >> 3)
		switch (bh >> 1) & 3 {
		case 0, 2: // raw, compressed
		case 1: // RLE
			size = 1
		default:
			return 0, errors.New("reserved block type")
		}
		if int(bh>>3) > zstdMaxBlock {
			return 0, errors.New("block too large")
		}
		if pos+size > len(b) {
			return 0, errors.New("data ends inside a block")
		}
		pos += size
		if bh&1 != 0 {
			break
		}
	}
	if fhd&(1<<2) != 0 {
		pos += 4
		if pos > len(b) {
			return 0, errors.New("data ends inside the frame checksum")
		}
	}
	return pos, nil
}

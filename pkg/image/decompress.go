package image

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/cdi-functions/cdi-functions/pkg/image/xz"
)

// zstdMaxWindow bounds the memory a zstd frame may ask for. Frames made
// with --long=27 (128 MiB) are the largest the zstd tool makes by default
// for long mode; anything bigger is refused rather than risking the data
// pod's memory limit.
const zstdMaxWindow = 128 << 20

// Decompress returns a reader of the content inside the compression layer
// f read from r. It handles concatenated gzip members, multi-stream and
// multi-block xz and concatenated zstd frames; gzip header fields (file
// name, comment, extra field) of any length are skipped. Close releases the
// decoder; it does not close r.
func Decompress(f Format, r io.Reader) (io.ReadCloser, error) {
	switch f {
	case Gzip:
		zr, err := newGzipReader(r)
		if err != nil {
			return nil, err
		}
		return zr, nil
	case Xz:
		xr, err := xz.NewReader(r, xz.Options{})
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		return xr, nil
	case Zstd:
		zr, err := zstd.NewReader(r,
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderConcurrency(2),
			zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zstdCloser{zr}, nil
	}
	return nil, fmt.Errorf("%s is not a compression format", f)
}

// zstdCloser adapts a zstd.Decoder, whose Close returns nothing.
type zstdCloser struct{ d *zstd.Decoder }

func (z zstdCloser) Read(p []byte) (int, error) { return z.d.Read(p) }

func (z zstdCloser) Close() error { z.d.Close(); return nil }

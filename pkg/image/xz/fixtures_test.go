package xz

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// extent is a mebibyte, the unit of test image sizes.
const extent = 1 << 20

// writeImage writes a deterministic disk-image-like byte stream of size bytes
// to w: of its extents of extentSize bytes, randomFrac are random data (what
// xz stores uncompressed), textFrac pseudo-text (compressible about 3:1,
// exercising the LZMA decoder), the rest zeros.
func writeImage(w io.Writer, size, extentSize int64, seed uint64, randomFrac, textFrac float64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	words := make([][]byte, 2048)
	for i := range words {
		words[i] = make([]byte, 2+rng.IntN(10))
		for j := range words[i] {
			words[i][j] = 'a' + byte(rng.IntN(26))
		}
	}
	buf := make([]byte, extentSize)
	for off := int64(0); off < size; off += extentSize {
		chunk := buf[:min(extentSize, size-off)]
		switch p := rng.Float64(); {
		case p < randomFrac:
			for i := 0; i+8 <= len(chunk); i += 8 {
				binary.LittleEndian.PutUint64(chunk[i:], rng.Uint64())
			}
		case p < randomFrac+textFrac:
			text := chunk[:0]
			for len(text) < len(chunk) {
				text = append(text, words[int(rng.ExpFloat64()*300)%len(words)]...)
				if rng.IntN(12) == 0 {
					text = append(text, '\n')
				} else {
					text = append(text, ' ')
				}
			}
		default:
			clear(chunk)
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

// image returns a generated image of size bytes in 64 KiB extents.
func image(t testing.TB, size int64, seed uint64) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, writeImage(&b, size, 64<<10, seed, 0.3, 0.1))
	return b.Bytes()
}

// xzBinary returns the path of the xz tool, failing the test without it.
func xzBinary(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("xz")
	require.NoError(t, err, "the xz tool makes this package's fixtures: install xz-utils")
	return path
}

// runXZ runs the xz tool with args on stdin and returns its output and error.
func runXZ(t testing.TB, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), xzBinary(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.Bytes(), &toolError{err: err, stderr: stderr.String()}
	}
	return out.Bytes(), nil
}

// compress compresses data with the xz tool and args (e.g. "-1", "-T2").
func compress(t testing.TB, data []byte, args ...string) []byte {
	t.Helper()
	out, err := runXZ(t, data, append([]string{"-c", "-q"}, args...)...)
	require.NoError(t, err)
	return out
}

// compressFile compresses the file at src with the xz tool into dst.
func compressFile(t testing.TB, src, dst string, args ...string) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.Create(dst)
	require.NoError(t, err)
	cmd := exec.CommandContext(context.Background(), xzBinary(t), append([]string{"-c", "-q"}, args...)...)
	cmd.Stdin, cmd.Stdout = in, out
	require.NoError(t, cmd.Run(), "xz %v", args)
	require.NoError(t, out.Close())
}

// toolError is a failed xz run with its message.
type toolError struct {
	err    error
	stderr string
}

func (e *toolError) Error() string { return e.err.Error() + ": " + e.stderr }

// concat joins byte slices.
func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// withCheckID rewrites the integrity check type of a single-stream xz file
// in its stream header and footer, fixing their CRC32s.
func withCheckID(t testing.TB, xzData []byte, id byte) []byte {
	t.Helper()
	b := bytes.Clone(xzData)
	require.Greater(t, len(b), 24)
	b[7] = id
	binary.LittleEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[6:8]))
	f := b[len(b)-12:]
	f[9] = id
	binary.LittleEndian.PutUint32(f[0:], crc32.ChecksumIEEE(f[4:10]))
	return b
}

// flipByte returns a copy of b with the byte at i inverted.
func flipByte(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xff
	return c
}

// gzipped compresses data with gzip.
func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

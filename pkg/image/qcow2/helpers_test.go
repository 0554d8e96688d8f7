package qcow2

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// fileOpener opens ranges of a local file.
type fileOpener struct {
	f    io.ReaderAt
	size int64
}

func (o fileOpener) Open(_ context.Context, off, length int64) (io.ReadCloser, error) {
	if off < 0 || off > o.size {
		return nil, fmt.Errorf("offset %d outside the file (%d bytes)", off, o.size)
	}
	if length < 0 || length > o.size-off {
		length = o.size - off
	}
	return io.NopCloser(io.NewSectionReader(o.f, off, length)), nil
}

// openCall records one Open call.
type openCall struct{ off, length int64 }

// countingOpener records the Open calls made through it.
type countingOpener struct {
	Opener
	mu    sync.Mutex
	calls []openCall
}

func (o *countingOpener) Open(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	o.mu.Lock()
	o.calls = append(o.calls, openCall{off, length})
	o.mu.Unlock()
	return o.Opener.Open(ctx, off, length)
}

func (o *countingOpener) take() []openCall {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.calls
	o.calls = nil
	return c
}

// boundedWriter is a zero-filled target that fails on writes outside
// [0, size) and on overlapping writes.
type boundedWriter struct {
	f       *os.File
	size    int64
	mu      sync.Mutex
	written map[int64]int64 // start -> end of each write, for overlap checks
}

func (w *boundedWriter) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > w.size {
		return 0, fmt.Errorf("write [%d, %d) outside the virtual size %d", off, off+int64(len(p)), w.size)
	}
	w.mu.Lock()
	if w.written == nil {
		w.written = map[int64]int64{}
	}
	if _, dup := w.written[off]; dup {
		w.mu.Unlock()
		return 0, fmt.Errorf("second write at %d", off)
	}
	w.written[off] = off + int64(len(p))
	w.mu.Unlock()
	return w.f.WriteAt(p, off)
}

func requireQemu(tb testing.TB) {
	tb.Helper()
	for _, tool := range []string{"qemu-img", "qemu-io"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("%s not installed", tool)
		}
	}
}

func run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(tb, err, "%s %s: %s", name, strings.Join(args, " "), out)
}

// writeRaw writes a deterministic raw image of size bytes: runs of zeros,
// random bytes, compressible text and repeated patterns, in pieces of 512 B
// to 1 MiB. The last piece is random data.
func writeRaw(tb testing.TB, path string, size int64, seed uint64) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	f, err := os.Create(path)
	require.NoError(tb, err)
	defer f.Close()
	buf := make([]byte, 1<<20)
	words := []string{"qcow2 ", "cluster ", "kubevirt ", "data ", "volume ", "\n", "import ", "0123456789 "}
	for off := int64(0); off < size; {
		n := min(size-off, int64(512*(1+rng.IntN(2048))))
		p := buf[:n]
		k := rng.IntN(10)
		if off+n == size {
			k = 5 // the tail is data, so that a partial last cluster is allocated
		}
		switch {
		case k < 5:
			off += n // a hole: zeros
			continue
		case k < 7:
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
		case k < 9:
			var b bytes.Buffer
			for int64(b.Len()) < n {
				b.WriteString(words[rng.IntN(len(words))])
			}
			copy(p, b.Bytes())
		default:
			c := byte(1 + rng.IntN(255))
			for i := range p {
				p[i] = c
			}
		}
		_, err := f.WriteAt(p, off)
		require.NoError(tb, err)
		off += n
	}
	require.NoError(tb, f.Truncate(size))
}

// convertGo converts the qcow2 file at src into a new raw file at dst.
func convertGo(tb testing.TB, ctx context.Context, src, dst string, tune tuning, opts ConvertOptions) (*Image, error) {
	tb.Helper()
	f, err := os.Open(src)
	require.NoError(tb, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(tb, err)
	img, err := open(ctx, fileOpener{f: f, size: st.Size()}, st.Size(), tune)
	if err != nil {
		return nil, err
	}
	return img, convertImage(tb, ctx, img, dst, opts)
}

func convertImage(tb testing.TB, ctx context.Context, img *Image, dst string, opts ConvertOptions) error {
	tb.Helper()
	out, err := os.Create(dst)
	require.NoError(tb, err)
	defer out.Close()
	require.NoError(tb, out.Truncate(img.VirtualSize()))
	return img.Convert(ctx, &boundedWriter{f: out, size: img.VirtualSize()}, opts)
}

// requireSameFile fails unless the two files have the same content.
func requireSameFile(tb testing.TB, want, got string) {
	tb.Helper()
	a, err := os.ReadFile(want)
	require.NoError(tb, err)
	b, err := os.ReadFile(got)
	require.NoError(tb, err)
	require.Equal(tb, len(a), len(b), "sizes of %s and %s", want, got)
	if !bytes.Equal(a, b) {
		i := 0
		for a[i] == b[i] {
			i++
		}
		tb.Fatalf("%s and %s differ first at byte %d (%#x)", want, got, i, i)
	}
}

// qemuRaw converts img to raw with qemu-img and returns the raw file path.
func qemuRaw(tb testing.TB, img string) string {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), "qemu.raw")
	run(tb, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", img, dst)
	return dst
}

func execOutput(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

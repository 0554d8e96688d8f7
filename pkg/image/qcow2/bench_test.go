package qcow2

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchImages are the images of the benchmarks: a few hundred MiB raw image
// with scattered data, converted by qemu-img.
var benchImages = []struct {
	name string
	args []string
}{
	{"plain", nil},
	{"deflate", []string{"-c"}},
	{"zstd", []string{"-c", "-o", "compression_type=zstd"}},
}

// benchImage writes the qcow2 image of a benchmark into dir.
func benchImage(b *testing.B, dir string, args []string) (string, int64) {
	b.Helper()
	raw := filepath.Join(dir, "src.raw")
	writeRaw(b, raw, 384*mib, 1)
	img := filepath.Join(dir, "img.qcow2")
	run(b, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), raw, img)...)
	require.NoError(b, os.Remove(raw))
	st, err := os.Stat(img)
	require.NoError(b, err)
	return img, st.Size()
}

// convertTo opens src and converts it into a fresh file at dst, skipping
// zero blocks like the pipeline's target.
func convertTo(b *testing.B, src Opener, size int64, dst string) {
	b.Helper()
	os.Remove(dst)
	im, err := Open(context.Background(), src, size)
	require.NoError(b, err)
	w, err := os.Create(dst)
	require.NoError(b, err)
	require.NoError(b, w.Truncate(im.VirtualSize()))
	require.NoError(b, im.Convert(context.Background(), sparseWriter{w}, ConvertOptions{}))
	require.NoError(b, w.Close())
}

// qemuConvert converts with qemu-img into a fresh file at dst.
func qemuConvert(b *testing.B, src, dst string) {
	b.Helper()
	os.Remove(dst)
	out, err := exec.Command("qemu-img", "convert", "-f", "qcow2", "-O", "raw", src, dst).CombinedOutput()
	require.NoError(b, err, "%s", out)
}

func report(b *testing.B, goTime, refTime time.Duration, n int, ref string) {
	b.ReportMetric(goTime.Seconds()/float64(n), "go-s/op")
	b.ReportMetric(refTime.Seconds()/float64(n), ref+"-s/op")
	b.ReportMetric(goTime.Seconds()/refTime.Seconds(), "go/"+ref)
}

// BenchmarkConvert converts a qcow2 image from a local file with this
// package and with `qemu-img convert -O raw`, in the same run, and reports
// the seconds per conversion of both and their ratio (go/qemu below 1: faster
// than qemu-img). Like qemu-img (-S 4k) and the pipeline's target, the Go
// side skips writing 4 KiB zero blocks.
func BenchmarkConvert(b *testing.B) {
	requireQemu(b)
	for _, bc := range benchImages {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			img, size := benchImage(b, dir, bc.args)
			goOut, qemuOut := filepath.Join(dir, "go.raw"), filepath.Join(dir, "qemu.raw")
			b.SetBytes(size)
			b.ReportAllocs()
			var goTime, qemuTime time.Duration
			n := 0
			for b.Loop() {
				start := time.Now()
				qemuConvert(b, img, qemuOut)
				qemuTime += time.Since(start)

				start = time.Now()
				f, err := os.Open(img)
				require.NoError(b, err)
				convertTo(b, fileOpener{f: f, size: size}, size, goOut)
				require.NoError(b, f.Close())
				goTime += time.Since(start)
				n++
			}
			report(b, goTime, qemuTime, n, "qemu")
			requireSameFile(b, qemuOut, goOut)
		})
	}
}

// BenchmarkConvertHTTP converts a qcow2 image served over loopback HTTP
// (net/http with range support) with this package (range requests through
// a minimal Opener), and the way CDI does it: curl to a temporary file, then
// `qemu-img convert`. It reports both and their ratio (go/curl+qemu).
func BenchmarkConvertHTTP(b *testing.B) {
	requireQemu(b)
	if _, err := exec.LookPath("curl"); err != nil {
		b.Skip("curl not installed")
	}
	for _, bc := range benchImages {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			img, size := benchImage(b, dir, bc.args)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.ServeFile(w, r, img)
			}))
			defer srv.Close()
			src := httpOpener{url: srv.URL + "/img.qcow2", client: srv.Client()}
			goOut, qemuOut := filepath.Join(dir, "go.raw"), filepath.Join(dir, "qemu.raw")
			scratch := filepath.Join(dir, "download.qcow2")
			b.SetBytes(size)
			var goTime, refTime time.Duration
			n := 0
			for b.Loop() {
				start := time.Now()
				os.Remove(scratch)
				run(b, "curl", "-sSf", "-o", scratch, src.url)
				qemuConvert(b, scratch, qemuOut)
				refTime += time.Since(start)

				start = time.Now()
				convertTo(b, src, size, goOut)
				goTime += time.Since(start)
				n++
			}
			report(b, goTime, refTime, n, "curl+qemu")
			requireSameFile(b, qemuOut, goOut)
		})
	}
}

// httpOpener is a minimal range-request Opener for the benchmark.
type httpOpener struct {
	url    string
	client *http.Client
}

func (o httpOpener) Open(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.url, nil)
	if err != nil {
		return nil, err
	}
	if length >= 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	} else {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusPartialContent {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s bytes %d+%d: %s", o.url, off, length, resp.Status)
	}
	return resp.Body, nil
}

// sparseWriter skips the 4 KiB blocks of zeros, like the pipeline's target
// and qemu-img's default -S 4k.
type sparseWriter struct{ w io.WriterAt }

func (s sparseWriter) WriteAt(p []byte, off int64) (int, error) {
	const block = 4096
	var zero [block]byte
	start := -1 // start of the pending run of non-zero blocks
	for i := 0; i < len(p); {
		n := min(block-int((off+int64(i))%block), len(p)-i)
		if bytes.Equal(p[i:i+n], zero[:n]) {
			if start >= 0 {
				if _, err := s.w.WriteAt(p[start:i], off+int64(start)); err != nil {
					return 0, err
				}
				start = -1
			}
		} else if start < 0 {
			start = i
		}
		i += n
	}
	if start >= 0 {
		if _, err := s.w.WriteAt(p[start:], off+int64(start)); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

package source

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkHTTPRaw compares reading a 1 GiB file from a loopback Go file
// server through Open(0, -1) + io.Copy(io.Discard) with `curl -s -o
// /dev/null` of the same URL, alternating in one run. It reports both
// throughputs and source/curl as "ratio" (the target is >= 0.8).
func BenchmarkHTTPRaw(b *testing.B) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		b.Skip("curl not found")
	}
	const size = 1 << 30
	dir := b.TempDir()
	path := filepath.Join(dir, "disk.img")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	// Sparse-ish: 1 MiB of data every 16 MiB, holes between.
	chunk := testData(1 << 20)
	for off := int64(0); off < size; off += 16 << 20 {
		if _, err := f.WriteAt(chunk, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	b.Cleanup(srv.Close)
	url := srv.URL + "/disk.img"
	ctx := context.Background()
	src, err := New(ctx, url, Options{Egress: allowLoopback()})
	if err != nil {
		b.Fatal(err)
	}
	if src.Size() != size {
		b.Fatalf("size %d", src.Size())
	}
	// Warm the page cache and the connection.
	if err := exec.Command(curl, "-s", "-o", "/dev/null", url).Run(); err != nil {
		b.Fatal(err)
	}

	var tSource, tCurl time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		rc, err := src.Open(ctx, 0, -1)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		_ = rc.Close()
		if err != nil || n != size {
			b.Fatalf("copied %d: %v", n, err)
		}
		tSource += time.Since(start)

		start = time.Now()
		if err := exec.Command(curl, "-s", "-o", "/dev/null", url).Run(); err != nil {
			b.Fatal(err)
		}
		tCurl += time.Since(start)
	}
	b.StopTimer()
	total := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(total/tSource.Seconds(), "source-MB/s")
	b.ReportMetric(total/tCurl.Seconds(), "curl-MB/s")
	b.ReportMetric(tCurl.Seconds()/tSource.Seconds(), "ratio")
}

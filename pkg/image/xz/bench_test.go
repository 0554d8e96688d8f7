package xz

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	ulikunitz "github.com/ulikunitz/xz"
)

// benchImageSize is the raw size of the benchmark image: in scattered 1 MiB
// extents, 30% random data and 15% pseudo-text, the rest zeros (like the
// 2 GiB image of the project's data-path measurements, whose real system
// files are what costs an LZMA decoder time).
const benchImageSize = 256 << 20

// benchSeed fixes the benchmark image.
const benchSeed = 42

// BenchmarkDecode decodes a generated disk image compressed as one block
// (`xz -T1`) and as 24 MiB blocks (`xz -T2`), with each implementation,
// and reports its time relative to the xz tool in the same run: `xz -dc` for
// the single-block file, `xz -T2 -dc` for the multi-block one. Metrics (lower
// is better): x-xz, the ratio of the fastest wall times; cpu-x-xz, the ratio
// of CPU times; xz-s, the xz tool's fastest wall time. The compressed files
// are cached in the system temporary directory across runs.
func BenchmarkDecode(b *testing.B) {
	files := benchFiles(b)
	impls := []decoder{
		{name: "liblzma-threads=2", open: NewReader, opts: Options{Threads: 2}},
		{name: "liblzma-threads=1", open: NewReader, opts: Options{Threads: 1}},
		{name: "purego-therootcompany", open: func(r io.Reader, o Options) (io.ReadCloser, error) { return newPureGo(r, o) }},
		{name: "purego-ulikunitz", open: func(r io.Reader, _ Options) (io.ReadCloser, error) {
			zr, err := ulikunitz.NewReader(bufio.NewReaderSize(r, 1<<20))
			return io.NopCloser(zr), err
		}},
	}
	for _, file := range files {
		for _, impl := range impls {
			b.Run(file.name+"/"+impl.name, func(b *testing.B) {
				b.SetBytes(benchImageSize)
				var wall, refWall minDuration
				var cpu, refCPU time.Duration
				for b.Loop() {
					start, startCPU := time.Now(), processCPU(b)
					decodeFile(b, impl, file.path)
					wall.add(time.Since(start))
					cpu += processCPU(b) - startCPU
					b.StopTimer()
					w, c := runReference(b, file.path, file.refArgs...)
					refWall.add(w)
					refCPU += c
					b.StartTimer()
				}
				b.ReportMetric(wall.d.Seconds()/refWall.d.Seconds(), "x-xz")
				b.ReportMetric(cpu.Seconds()/refCPU.Seconds(), "cpu-x-xz")
				b.ReportMetric(refWall.d.Seconds(), "xz-s")
			})
		}
	}
}

// minDuration keeps the shortest of the durations added: on a shared
// machine the fastest run is the one least disturbed.
type minDuration struct{ d time.Duration }

// add records d.
func (m *minDuration) add(d time.Duration) {
	if m.d == 0 || d < m.d {
		m.d = d
	}
}

// processCPU returns the user and system CPU time of this process so far,
// liblzma's threads included.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchFile is one compressed benchmark input and its reference command.
type benchFile struct {
	name    string
	path    string
	refArgs []string // arguments for the reference `xz -dc` run
}

// benchFiles returns the benchmark inputs, making them on first use.
func benchFiles(b *testing.B) []benchFile {
	b.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("cdi-functions-xz-bench-%dMiB-%d-v2", benchImageSize>>20, benchSeed))
	files := []benchFile{
		{name: "single-block", path: filepath.Join(dir, "single.xz"), refArgs: []string{"-dc"}},
		{name: "multi-block", path: filepath.Join(dir, "multi.xz"), refArgs: []string{"-T2", "-dc"}},
	}
	compressArgs := [][]string{{"-6", "-T1"}, {"-6", "-T2"}}
	if _, err := os.Stat(files[1].path); err == nil {
		return files
	}
	require.NoError(b, os.MkdirAll(dir, 0o755))
	raw := filepath.Join(dir, "image.raw")
	f, err := os.Create(raw)
	require.NoError(b, err)
	w := bufio.NewWriterSize(f, 1<<20)
	require.NoError(b, writeImage(w, benchImageSize, extent, benchSeed, 0.3, 0.15))
	require.NoError(b, w.Flush())
	require.NoError(b, f.Close())
	for i, file := range files {
		tmp := file.path + ".tmp"
		compressFile(b, raw, tmp, compressArgs[i]...)
		require.NoError(b, os.Rename(tmp, file.path))
	}
	require.NoError(b, os.Remove(raw))
	return files
}

// decodeFile decodes the file at path with dec and checks the output size.
func decodeFile(b *testing.B, dec decoder, path string) {
	b.Helper()
	f, err := os.Open(path)
	require.NoError(b, err)
	defer f.Close()
	r, err := dec.open(f, dec.opts)
	require.NoError(b, err)
	n, err := io.Copy(io.Discard, r)
	require.NoError(b, err)
	require.NoError(b, r.Close())
	require.EqualValues(b, benchImageSize, n)
}

// runReference times the xz tool decoding the file at path to /dev/null,
// returning its wall and CPU time.
func runReference(b *testing.B, path string, args ...string) (wall, cpu time.Duration) {
	b.Helper()
	in, err := os.Open(path)
	require.NoError(b, err)
	defer in.Close()
	out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(b, err)
	defer out.Close()
	cmd := exec.CommandContext(context.Background(), xzBinary(b), args...)
	cmd.Stdin, cmd.Stdout = in, out
	start := time.Now()
	require.NoError(b, cmd.Run())
	return time.Since(start), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

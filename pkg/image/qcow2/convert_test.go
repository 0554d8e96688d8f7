package qcow2

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// variant builds a qcow2 image in dir from the raw image raw.
type variant struct {
	name  string
	size  int64 // raw size
	build func(t *testing.T, dir, raw string) string
	// needs lists the entry kinds the fixture must contain (non-zero fields).
	needs entryKinds
}

// fromRaw returns a builder converting the raw image with qemu-img.
func fromRaw(args ...string) func(t *testing.T, dir, raw string) string {
	return func(t *testing.T, dir, raw string) string {
		dst := filepath.Join(dir, "img.qcow2")
		run(t, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), raw, dst)...)
		return dst
	}
}

// withIO returns a builder that converts the raw image, then runs qemu-io
// commands on the result.
func withIO(convertArgs []string, cmds ...string) func(t *testing.T, dir, raw string) string {
	return func(t *testing.T, dir, raw string) string {
		dst := fromRaw(convertArgs...)(t, dir, raw)
		args := []string{"-f", "qcow2"}
		for _, c := range cmds {
			args = append(args, "-c", c)
		}
		run(t, "qemu-io", append(args, dst)...)
		return dst
	}
}

const mib = 1 << 20

var variants = []variant{
	{name: "v3", size: 12 * mib, build: fromRaw("-o", "compat=1.1")},
	{name: "v2", size: 12 * mib, build: fromRaw("-o", "compat=0.10")},
	{name: "v3-deflate", size: 12 * mib, build: fromRaw("-c", "-o", "compat=1.1"), needs: entryKinds{compressed: 1}},
	{name: "v2-deflate", size: 12 * mib, build: fromRaw("-c", "-o", "compat=0.10"), needs: entryKinds{compressed: 1}},
	{name: "v3-zstd", size: 12 * mib, build: fromRaw("-c", "-o", "compression_type=zstd"), needs: entryKinds{compressed: 1}},
	{name: "cluster-512", size: 3 * mib, build: fromRaw("-o", "cluster_size=512")},
	{name: "cluster-512-deflate", size: 3 * mib, build: fromRaw("-c", "-o", "cluster_size=512"), needs: entryKinds{compressed: 1}},
	{name: "cluster-4k", size: 8 * mib, build: fromRaw("-o", "cluster_size=4096")},
	{name: "cluster-2m", size: 20 * mib, build: fromRaw("-o", "cluster_size=2M")},
	{name: "cluster-2m-zstd", size: 20 * mib, build: fromRaw("-c", "-o", "cluster_size=2M,compression_type=zstd"), needs: entryKinds{compressed: 1}},
	{name: "odd-size", size: 10*mib + 5*512 + 300, build: fromRaw()},
	{name: "odd-size-compressed", size: 10*mib + 5*512 + 300, build: fromRaw("-c", "-o", "cluster_size=4096"), needs: entryKinds{compressed: 1}},
	{
		name: "zero-clusters", size: 12 * mib, needs: entryKinds{zeroPlain: 1, zeroAlloc: 1},
		// write -z keeps the allocation ("zero with offset"), -u drops it.
		build: withIO(nil, "write -z 0 1M", "write -z 3M 2M", "write -z -u 6M 1M", "write -z 9000K 64K"),
	},
	{
		name: "discard", size: 12 * mib, needs: entryKinds{zeroPlain: 1},
		build: withIO(nil, "discard 1M 2M", "discard 8M 64K", "write -P 0x5a 8256K 4K"),
	},
	{
		name: "written-after-create", size: 12 * mib,
		build: withIO(nil, "write -P 0xab 11M 1M", "write -P 0xcd 512K 8K", "write -P 0x11 4000K 100K"),
	},
	{
		name: "preallocation-metadata", size: 6 * mib, needs: entryKinds{zeroAlloc: 1, normal: 1},
		build: func(t *testing.T, dir, raw string) string {
			dst := filepath.Join(dir, "img.qcow2")
			run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", dst, "6M")
			run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x42 1M 1M", "-c", "write -P 0x43 5000K 3K", "-c", "write -z 1536K 64K", dst)
			return dst
		},
	},
	{name: "extended-l2", size: 12 * mib, build: fromRaw("-o", "extended_l2=on"), needs: entryKinds{partialSubclusters: 1}},
	{
		name: "extended-l2-subclusters", size: 4 * mib, needs: entryKinds{partialSubclusters: 1},
		build: func(t *testing.T, dir, raw string) string {
			dst := filepath.Join(dir, "img.qcow2")
			run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=128K", dst, "4M")
			run(t, "qemu-io", "-f", "qcow2",
				"-c", "write -P 0x61 4K 4K", "-c", "write -P 0x62 20K 12K", "-c", "write -P 0x63 1M 8K",
				"-c", "write -P 0x64 2M 256K", "-c", "write -z 2100K 8K", "-c", "write -P 0x65 4000K 96K", dst)
			return dst
		},
	},
	{name: "extended-l2-zstd", size: 12 * mib, build: fromRaw("-c", "-o", "extended_l2=on,compression_type=zstd"), needs: entryKinds{compressed: 1}},
	{
		name: "snapshot", size: 8 * mib, needs: entryKinds{zeroPlain: 1},
		build: func(t *testing.T, dir, raw string) string {
			dst := fromRaw()(t, dir, raw)
			run(t, "qemu-img", "snapshot", "-c", "before", dst)
			run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x77 1M 3M", "-c", "discard 6M 1M", dst)
			return dst
		},
	},
	// Internal snapshots share clusters and L2 tables with the image
	// (refcount > 1, which qemu-img check calls clean); the active L1 table
	// reads them as any other.
	{
		name: "snapshots-compressed", size: 8 * mib, needs: entryKinds{compressed: 1},
		build: func(t *testing.T, dir, raw string) string {
			dst := fromRaw("-c", "-o", "cluster_size=4K")(t, dir, raw)
			run(t, "qemu-img", "snapshot", "-c", "one", dst)
			run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x31 100K 300K", dst)
			run(t, "qemu-img", "snapshot", "-c", "two", dst)
			run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x32 2M 64K", "-c", "write -z 3M 1M", dst)
			run(t, "qemu-img", "check", "-q", dst)
			return dst
		},
	},
	{
		name: "snapshot-applied", size: 6 * mib,
		build: func(t *testing.T, dir, raw string) string {
			dst := fromRaw("-o", "cluster_size=64K")(t, dir, raw)
			run(t, "qemu-img", "snapshot", "-c", "old", dst)
			run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x41 0 5M", dst)
			run(t, "qemu-img", "snapshot", "-c", "new", dst)
			run(t, "qemu-img", "snapshot", "-a", "old", dst)
			run(t, "qemu-img", "snapshot", "-d", "new", dst)
			run(t, "qemu-img", "check", "-q", dst)
			return dst
		},
	},
	{
		name: "snapshot-extended-l2", size: 4 * mib, needs: entryKinds{partialSubclusters: 1},
		build: func(t *testing.T, dir, raw string) string {
			dst := fromRaw("-o", "extended_l2=on,cluster_size=128K")(t, dir, raw)
			run(t, "qemu-img", "snapshot", "-c", "s", dst)
			run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x51 8K 4K", "-c", "write -P 0x52 1M 12K", dst)
			run(t, "qemu-img", "check", "-q", dst)
			return dst
		},
	},
	{name: "empty", size: 0, build: fromRaw()},
}

func TestConvertMatchesQemuImg(t *testing.T) {
	requireQemu(t)
	for i, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			raw := filepath.Join(dir, "src.raw")
			writeRaw(t, raw, v.size, uint64(i+1))
			img := v.build(t, dir, raw)
			want := qemuRaw(t, img)

			f, err := os.Open(img)
			require.NoError(t, err)
			defer f.Close()
			st, err := f.Stat()
			require.NoError(t, err)
			src := &countingOpener{Opener: fileOpener{f: f, size: st.Size()}}
			ctx := context.Background()
			im, err := Open(ctx, src, st.Size())
			require.NoError(t, err)
			src.take()
			k := countKinds(t, im, img)
			for _, c := range [][2]int{{v.needs.normal, k.normal}, {v.needs.compressed, k.compressed},
				{v.needs.zeroPlain, k.zeroPlain}, {v.needs.zeroAlloc, k.zeroAlloc}, {v.needs.partialSubclusters, k.partialSubclusters}} {
				if c[0] > 0 {
					require.Positive(t, c[1], "fixture lacks a needed entry kind: %+v", k)
				}
			}

			got := filepath.Join(dir, "go.raw")
			require.NoError(t, convertImage(t, ctx, im, got, ConvertOptions{}))
			requireSameFile(t, want, got)

			// The data is read through one sequential stream, never one
			// request per cluster.
			calls := src.take()
			assert.LessOrEqual(t, len(calls), 1, "data streams: %v", calls)
			var read int64
			for _, c := range calls {
				read += c.length
			}
			assert.LessOrEqual(t, read, st.Size())

			// Tiny windows, chunks and gaps exercise the bounded-memory path;
			// the output must not change.
			tiny := tuning{budget: 5, metaWorkers: 3, metaGap: 0, metaRunMax: im.ClusterSize() * 2,
				chunkSize: 1000, readAhead: 2, maxGap: 4096, maxExtent: 3 * 512, workerMem: 1}
			got2 := filepath.Join(dir, "go-tiny.raw")
			tinyImg, err := convertGo(t, ctx, img, got2, tiny, ConvertOptions{Workers: 3})
			require.NoError(t, err)
			if len(im.first.ext) > tiny.budget {
				require.GreaterOrEqual(t, tinyImg.first.cut, int64(0), "the tiny budget splits the plan into windows")
			}
			requireSameFile(t, want, got2)
		})
	}
}

func TestConvertWholeTeeAndProgress(t *testing.T) {
	requireQemu(t)
	for _, tc := range []struct {
		name  string
		args  []string
		whole bool
	}{
		{"whole", nil, true},
		{"whole-compressed", []string{"-c"}, true},
		{"ranges", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			raw := filepath.Join(dir, "src.raw")
			writeRaw(t, raw, 8*mib, 42)
			img := fromRaw(tc.args...)(t, dir, raw)
			content, err := os.ReadFile(img)
			require.NoError(t, err)

			h := sha256.New()
			var progress []int64
			opts := ConvertOptions{Whole: tc.whole, Progress: func(n int64) { progress = append(progress, n) }}
			if tc.whole {
				opts.Tee = h
			}
			got := filepath.Join(dir, "go.raw")
			_, err = convertGo(t, context.Background(), img, got, defaultTuning(), opts)
			require.NoError(t, err)
			requireSameFile(t, qemuRaw(t, img), got)

			if tc.whole {
				want := sha256.Sum256(content)
				assert.Equal(t, want[:], h.Sum(nil), "the tee saw every byte of the file, in order")
			}
			require.NotEmpty(t, progress)
			assert.IsNonDecreasing(t, progress)
			assert.Equal(t, int64(len(content)), progress[len(progress)-1])
		})
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) WriteAt([]byte, int64) (int, error) { return 0, errDiskFull }

var errDiskFull = errors.New("disk full")

func TestConvertStopsOnCancelAndErrors(t *testing.T) {
	requireQemu(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	writeRaw(t, raw, 12*mib, 7)
	plain := fromRaw()(t, dir, raw)
	compressed := fromRaw("-c", "-o", "cluster_size=4K")(t, t.TempDir(), raw)
	open := func(t *testing.T, p string) *Image {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		img, err := openBytes(context.Background(), b)
		require.NoError(t, err)
		img.tune.chunkSize = 64 << 10
		return img
	}
	for _, tc := range []struct {
		name  string
		image string
		w     func(img *Image) io.WriterAt
		// cancelAt cancels the context at this progress call (0: never).
		cancelAt int
		want     error
	}{
		{name: "cancel", image: plain, cancelAt: 3, want: context.Canceled},
		{name: "cancel while decompressing", image: compressed, cancelAt: 3, want: context.Canceled},
		{name: "write error", image: plain, w: func(*Image) io.WriterAt { return failingWriter{} }, want: errDiskFull},
		{name: "write error while decompressing", image: compressed, w: func(*Image) io.WriterAt { return failingWriter{} }, want: errDiskFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := open(t, tc.image)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			opts := ConvertOptions{Whole: true, Workers: 2, Progress: func(int64) {
				if calls++; calls == tc.cancelAt {
					cancel()
				}
			}}
			var w io.WriterAt = discardWriter{img.VirtualSize()}
			if tc.w != nil {
				w = tc.w(img)
			}
			baseline := runtime.NumGoroutine()
			require.ErrorIs(t, img.Convert(ctx, w, opts), tc.want)
			// Convert leaves no goroutine behind.
			requireGoroutines(t, baseline)
		})
	}
	t.Run("open cancelled", func(t *testing.T) {
		b, err := os.ReadFile(plain)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = Open(ctx, cancelAwareOpener{fileOpener{f: bytes.NewReader(b), size: int64(len(b))}}, int64(len(b)))
		require.ErrorIs(t, err, context.Canceled)
	})
}

// cancelAwareOpener fails Open when the context is done, as network
// sources do.
type cancelAwareOpener struct{ Opener }

func (o cancelAwareOpener) Open(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return o.Opener.Open(ctx, off, length)
}

// TestLargeSparseImage converts a 16 TiB image holding three pieces of
// data: the plan and the reads stay proportional to the data.
func TestLargeSparseImage(t *testing.T) {
	requireQemu(t)
	p := filepath.Join(t.TempDir(), "big.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", p, "16T")
	run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 64K", "-c", "write -P 0x22 5T 1M", "-c", "write -P 0x33 16383G 4K", p)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	src := &countingOpener{Opener: fileOpener{f: bytes.NewReader(b), size: int64(len(b))}}
	img, err := Open(context.Background(), src, int64(len(b)))
	require.NoError(t, err)
	require.Equal(t, int64(16<<40), img.VirtualSize())
	src.take()
	w := &recordingWriter{}
	require.NoError(t, img.Convert(context.Background(), w, ConvertOptions{}))
	assert.Equal(t, map[byte]written{0x11: {0, 64 << 10}, 0x22: {5 << 40, 1 << 20}, 0x33: {16383 << 30, 4 << 10}}, w.bytes)
	assert.Len(t, src.take(), 1, "one data stream")
}

// recordingWriter records where each non-zero byte value was first
// written and how many times.
type recordingWriter struct {
	mu    sync.Mutex
	bytes map[byte]written
}

type written struct{ first, count int64 }

func (w *recordingWriter) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bytes == nil {
		w.bytes = map[byte]written{}
	}
	for i, c := range p {
		if c == 0 {
			continue
		}
		r, ok := w.bytes[c]
		if !ok || off+int64(i) < r.first {
			r.first = off + int64(i)
		}
		r.count++
		w.bytes[c] = r
	}
	return len(p), nil
}

// requireGoroutines waits until at most n goroutines run.
func requireGoroutines(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > n; {
		if time.Now().After(deadline) {
			b := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want <= %d:\n%s", runtime.NumGoroutine(), n, b[:runtime.Stack(b, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package qcow2

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzMaxVirtualSize bounds the images the fuzz target converts: Convert's
// work is proportional to the virtual size, which a tiny file may claim to
// be terabytes.
const fuzzMaxVirtualSize = 64 << 20

func FuzzOpenConvert(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { runFuzzOnce(data) })
}

// fuzzSmall shrinks every size so that fuzz inputs reach the window and
// chunk boundaries.
var fuzzSmall = tuning{budget: 16, metaWorkers: 2, metaGap: 512, metaRunMax: 64 << 10,
	chunkSize: 4096, readAhead: 2, maxGap: 8192, maxExtent: 8192, workerMem: 1}

func runFuzzOnce(data []byte) {
	ctx := context.Background()
	tunes := []tuning{defaultTuning()}
	if len(data) <= 64<<10 {
		tunes = append(tunes, fuzzSmall)
	}
	for _, tune := range tunes {
		img, err := open(ctx, fileOpener{f: bytes.NewReader(data), size: int64(len(data))}, int64(len(data)), tune)
		if err != nil {
			return
		}
		if img.VirtualSize() > fuzzMaxVirtualSize {
			return
		}
		// discardWriter panics on a write outside the virtual size.
		_ = img.Convert(ctx, discardWriter{img.VirtualSize()}, ConvertOptions{Workers: 2})
	}
}

// TestWriteFuzzCorpus regenerates the seed corpus of FuzzOpenConvert from
// tiny images made by qemu-img. Run it with QCOW2_WRITE_FUZZ_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("QCOW2_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set QCOW2_WRITE_FUZZ_CORPUS=1 to regenerate testdata/fuzz/FuzzOpenConvert")
	}
	requireQemu(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	run(t, "qemu-img", "create", "-q", "-f", "raw", raw, "12K")
	run(t, "qemu-io", "-f", "raw", "-c", "write -P 0xab 0 1K", "-c", "write -P 0x01 5K 2K",
		"-c", "write -P 0x90 11K 1K", raw)
	out := filepath.Join("testdata", "fuzz", "FuzzOpenConvert")
	require.NoError(t, os.MkdirAll(out, 0o755))
	for _, tc := range []struct {
		name string
		args []string
		io   []string
		// snapshot takes an internal snapshot before the qemu-io writes, so
		// that clusters are shared (refcount 2) between it and the image.
		snapshot bool
	}{
		{name: "v3-512", args: []string{"-o", "cluster_size=512"}},
		{name: "v2-512", args: []string{"-o", "cluster_size=512,compat=0.10"}},
		{name: "deflate-512", args: []string{"-c", "-o", "cluster_size=512"}},
		{name: "zstd-1k", args: []string{"-c", "-o", "cluster_size=1K,compression_type=zstd"}},
		{name: "zero-1k", args: []string{"-o", "cluster_size=1K"}, io: []string{"write -z 5K 1K", "write -z -u 11K 1K"}},
		{name: "snapshot-512", args: []string{"-o", "cluster_size=512"}, snapshot: true, io: []string{"write -P 0x5a 512 1K", "discard 6K 512"}},
		// No extended L2 seed: they need 16 KiB clusters, and the corpus
		// format quotes each zero byte as four characters.
	} {
		img := filepath.Join(dir, tc.name+".qcow2")
		run(t, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, tc.args...), raw, img)...)
		if tc.snapshot {
			run(t, "qemu-img", "snapshot", "-c", "before", img)
		}
		if len(tc.io) > 0 {
			args := []string{"-f", "qcow2"}
			for _, c := range tc.io {
				args = append(args, "-c", c)
			}
			run(t, "qemu-io", append(args, img)...)
		}
		b, err := os.ReadFile(img)
		require.NoError(t, err)
		entry := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		require.NoError(t, os.WriteFile(filepath.Join(out, tc.name), []byte(entry), 0o644))
		t.Logf("%s: %d bytes", tc.name, len(b))
	}
}

// TestFuzzSeedsConvert checks that the seed corpus holds valid images, so
// that the fuzzer starts from inputs that reach Convert.
func TestFuzzSeedsConvert(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzOpenConvert", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, p := range files {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		lit, ok := strings.CutPrefix(string(b), "go test fuzz v1\n[]byte(")
		require.True(t, ok, p)
		lit, ok = strings.CutSuffix(lit, ")\n")
		require.True(t, ok, p)
		data, err := strconv.Unquote(lit)
		require.NoError(t, err, p)
		img, err := openBytes(context.Background(), []byte(data))
		require.NoError(t, err, p)
		require.NoError(t, img.Convert(context.Background(), discardWriter{img.VirtualSize()}, ConvertOptions{}), p)
	}
}

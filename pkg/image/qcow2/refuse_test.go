package qcow2

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
)

// Header field offsets.
const (
	hVersion     = 4
	hBackingOff  = 8
	hBackingSize = 16
	hClusterBits = 20
	hSize        = 24
	hCrypt       = 32
	hL1Size      = 36
	hL1Off       = 40
	hIncompat    = 72
	hRefOrder    = 96
	hHeaderLen   = 100
	hCompression = 104
)

func be32(b []byte, off int) uint32     { return binary.BigEndian.Uint32(b[off:]) }
func be64(b []byte, off int) uint64     { return binary.BigEndian.Uint64(b[off:]) }
func put32(b []byte, off int, v uint32) { binary.BigEndian.PutUint32(b[off:], v) }
func put64(b []byte, off int, v uint64) { binary.BigEndian.PutUint64(b[off:], v) }

// fixture is a real image's bytes, with helpers to find its tables.
type fixture struct{ b []byte }

func (f fixture) clusterSize() int { return 1 << be32(f.b, hClusterBits) }
func (f fixture) l1() int          { return int(be64(f.b, hL1Off)) }
func (f fixture) entrySize() int {
	if be32(f.b, hVersion) == 3 && be64(f.b, hIncompat)&incompatExtendedL2 != 0 {
		return 16
	}
	return 8
}

// entry returns the file offset of the n-th L2 entry (in the first L2
// table) matching pred.
func (f fixture) entry(t *testing.T, n int, pred func(e uint64) bool) int {
	t.Helper()
	tab := int(be64(f.b, f.l1()) & l1OffsetMask)
	require.NotZero(t, tab, "no L2 table")
	for i := 0; i < f.clusterSize()/f.entrySize(); i++ {
		off := tab + i*f.entrySize()
		if pred(be64(f.b, off)) {
			if n == 0 {
				return off
			}
			n--
		}
	}
	t.Fatal("no such L2 entry")
	return 0
}

func isNormal(e uint64) bool     { return e&l2Compressed == 0 && e&l1OffsetMask != 0 && e&1 == 0 }
func isCompressed(e uint64) bool { return e&l2Compressed != 0 }

// compressedAt returns the host offset of the compressed cluster whose L2
// entry is at off.
func (f fixture) compressedAt(off int) int {
	bits := uint(be32(f.b, hClusterBits))
	return int(be64(f.b, off) & (1<<(62-(bits-8)) - 1))
}

func buildFixtures(t *testing.T) map[string][]byte {
	t.Helper()
	requireQemu(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	writeRaw(t, raw, 4*mib, 99)
	out := map[string][]byte{}
	add := func(name string, build func(t *testing.T, dir, raw string) string) {
		d := filepath.Join(dir, name)
		require.NoError(t, os.Mkdir(d, 0o755))
		b, err := os.ReadFile(build(t, d, raw))
		require.NoError(t, err)
		out[name] = b
	}
	add("v3", fromRaw())
	add("v2", fromRaw("-o", "compat=0.10"))
	add("deflate", fromRaw("-c"))
	add("zstd", fromRaw("-c", "-o", "compression_type=zstd"))
	add("ext", fromRaw("-o", "extended_l2=on"))
	add("big", func(t *testing.T, dir, raw string) string {
		p := filepath.Join(dir, "big.qcow2")
		run(t, "qemu-img", "create", "-q", "-f", "qcow2", p, "1G")
		run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 1 0 64K", "-c", "write -P 2 600M 64K", p)
		return p
	})
	return out
}

// openBytes opens an image held in memory.
func openBytes(ctx context.Context, b []byte) (*Image, error) {
	return Open(ctx, fileOpener{f: bytes.NewReader(b), size: int64(len(b))}, int64(len(b)))
}

// discardWriter accepts writes inside [0, size) and drops them.
type discardWriter struct{ size int64 }

func (w discardWriter) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > w.size {
		panic("write outside the virtual size")
	}
	return len(p), nil
}

func TestRefusePatchedImages(t *testing.T) {
	fx := buildFixtures(t)
	deflate := func(n int) []byte {
		var b bytes.Buffer
		w, err := flate.NewWriter(&b, flate.BestCompression)
		require.NoError(t, err)
		_, err = w.Write(bytes.Repeat([]byte{7}, n))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		return b.Bytes()
	}
	zstdFrame := func(n int) []byte {
		e, err := zstd.NewWriter(nil)
		require.NoError(t, err)
		return e.EncodeAll(bytes.Repeat([]byte{7}, n), nil)
	}
	for _, tc := range []struct {
		name      string
		base      string
		patch     func(t *testing.T, f fixture) []byte
		want      error
		atConvert bool // Open succeeds, Convert fails
	}{
		{name: "bad magic", base: "v3", want: ErrNotQcow2, patch: func(_ *testing.T, f fixture) []byte { f.b[0] = 'X'; return f.b }},
		{name: "version 4", base: "v3", want: ErrUnsupportedVersion, patch: func(_ *testing.T, f fixture) []byte { put32(f.b, hVersion, 4); return f.b }},
		{name: "version 1", base: "v3", want: ErrUnsupportedVersion, patch: func(_ *testing.T, f fixture) []byte { put32(f.b, hVersion, 1); return f.b }},
		{name: "cluster bits 8", base: "v3", want: ErrInvalidHeader, patch: func(_ *testing.T, f fixture) []byte { put32(f.b, hClusterBits, 8); return f.b }},
		{name: "cluster bits 22", base: "v3", want: ErrInvalidHeader, patch: func(_ *testing.T, f fixture) []byte { put32(f.b, hClusterBits, 22); return f.b }},
		{name: "backing file", base: "v3", want: ErrBackingFile, patch: func(_ *testing.T, f fixture) []byte {
			copy(f.b[1024:], "base.img")
			put64(f.b, hBackingOff, 1024)
			put32(f.b, hBackingSize, 8)
			return f.b
		}},
		{name: "encrypted (aes)", base: "v3", want: ErrEncrypted, patch: func(_ *testing.T, f fixture) []byte { put32(f.b, hCrypt, 1); return f.b }},
		// A real LUKS image takes seconds to create (key derivation).
		{name: "encrypted (luks)", base: "v3", want: ErrEncrypted, patch: func(_ *testing.T, f fixture) []byte { put32(f.b, hCrypt, 2); return f.b }},
		{name: "corrupt bit", base: "v3", want: ErrCorrupt, patch: func(_ *testing.T, f fixture) []byte { f.b[hIncompat+7] |= incompatCorrupt; return f.b }},
		{name: "external data file bit", base: "v3", want: ErrExternalDataFile, patch: func(_ *testing.T, f fixture) []byte { f.b[hIncompat+7] |= incompatDataFile; return f.b }},
		{name: "unknown incompatible bit", base: "v3", want: ErrUnsupportedFeature, patch: func(_ *testing.T, f fixture) []byte { f.b[hIncompat+7] |= 1 << 5; return f.b }},
		{name: "unknown compression type", base: "zstd", want: ErrUnsupportedCompression, patch: func(_ *testing.T, f fixture) []byte { f.b[hCompression] = 2; return f.b }},
		{name: "zstd without its feature bit", base: "zstd", want: ErrInvalidHeader, patch: func(_ *testing.T, f fixture) []byte { f.b[hIncompat+7] &^= incompatCompression; return f.b }},
		{name: "zlib with the compression bit", base: "zstd", want: ErrInvalidHeader, patch: func(_ *testing.T, f fixture) []byte { f.b[hCompression] = 0; return f.b }},
		{name: "extended L2 with small clusters", base: "ext", want: ErrInvalidHeader, patch: func(_ *testing.T, f fixture) []byte { put32(f.b, hClusterBits, 13); return f.b }},
		{name: "virtual size over 64 TiB", base: "v3", want: ErrTooLarge, patch: func(_ *testing.T, f fixture) []byte { put64(f.b, hSize, 65<<40); return f.b }},
		{name: "L1 too small", base: "big", want: ErrInvalidHeader, patch: func(_ *testing.T, f fixture) []byte { put32(f.b, hL1Size, 1); return f.b }},
		{name: "L1 too large", base: "v3", want: ErrInvalidHeader, patch: func(_ *testing.T, f fixture) []byte { put32(f.b, hL1Size, 5<<20); return f.b }},
		{name: "L1 unaligned", base: "v3", want: ErrInvalidHeader, patch: func(_ *testing.T, f fixture) []byte { put64(f.b, hL1Off, uint64(f.l1()+512)); return f.b }},
		{name: "L1 over the header", base: "v3", want: ErrInvalidHeader, patch: func(_ *testing.T, f fixture) []byte { put64(f.b, hL1Off, 0); return f.b }},
		{name: "L1 beyond the file", base: "v3", want: ErrTruncated, patch: func(_ *testing.T, f fixture) []byte {
			put64(f.b, hL1Off, uint64(len(f.b)+f.clusterSize())&^uint64(f.clusterSize()-1))
			return f.b
		}},
		{name: "short v3 header", base: "v3", want: ErrInvalidHeader, patch: func(_ *testing.T, f fixture) []byte { put32(f.b, hHeaderLen, 96); return f.b }},
		{name: "header longer than a cluster", base: "v3", want: ErrInvalidHeader, patch: func(_ *testing.T, f fixture) []byte {
			put32(f.b, hHeaderLen, uint32(f.clusterSize()+8))
			return f.b
		}},
		{name: "refcount order 7", base: "v3", want: ErrInvalidHeader, patch: func(_ *testing.T, f fixture) []byte { put32(f.b, hRefOrder, 7); return f.b }},
		{name: "file shorter than a header", base: "v3", want: ErrTruncated, patch: func(_ *testing.T, f fixture) []byte { return f.b[:50] }},
		{name: "L2 table unaligned", base: "v3", want: ErrInvalidTable, patch: func(_ *testing.T, f fixture) []byte {
			put64(f.b, f.l1(), be64(f.b, f.l1())+512)
			return f.b
		}},
		{name: "L2 table beyond the file", base: "v3", want: ErrTruncated, patch: func(_ *testing.T, f fixture) []byte {
			put64(f.b, f.l1(), uint64(len(f.b)+f.clusterSize())&^uint64(f.clusterSize()-1))
			return f.b
		}},
		{name: "L2 table referenced twice", base: "big", want: ErrInvalidTable, patch: func(_ *testing.T, f fixture) []byte {
			put64(f.b, f.l1()+8, be64(f.b, f.l1()))
			return f.b
		}},
		{name: "data cluster unaligned", base: "v3", want: ErrInvalidTable, patch: func(t *testing.T, f fixture) []byte {
			off := f.entry(t, 0, isNormal)
			put64(f.b, off, be64(f.b, off)+512)
			return f.b
		}},
		{name: "zero cluster with unaligned offset", base: "v3", want: ErrInvalidTable, patch: func(t *testing.T, f fixture) []byte {
			off := f.entry(t, 0, isNormal)
			put64(f.b, off, be64(f.b, off)+512|1)
			return f.b
		}},
		{name: "data cluster beyond the file", base: "v3", want: ErrTruncated, patch: func(t *testing.T, f fixture) []byte {
			off := f.entry(t, 0, isNormal)
			put64(f.b, off, uint64(len(f.b)+4*f.clusterSize())&^uint64(f.clusterSize()-1))
			return f.b
		}},
		{name: "file truncated", base: "v3", want: ErrTruncated, patch: func(_ *testing.T, f fixture) []byte {
			return f.b[:len(f.b)-f.clusterSize()/2]
		}},
		{name: "zero flag in a v2 image", base: "v2", want: ErrInvalidTable, patch: func(t *testing.T, f fixture) []byte {
			off := f.entry(t, 0, isNormal)
			put64(f.b, off, be64(f.b, off)|1)
			return f.b
		}},
		{name: "data cluster referenced twice", base: "v3", want: ErrInvalidTable, patch: func(t *testing.T, f fixture) []byte {
			put64(f.b, f.entry(t, 1, isNormal), be64(f.b, f.entry(t, 0, isNormal)))
			return f.b
		}},
		{name: "compressed cluster referenced twice", base: "deflate", want: ErrInvalidTable, patch: func(t *testing.T, f fixture) []byte {
			put64(f.b, f.entry(t, 1, isCompressed), be64(f.b, f.entry(t, 0, isCompressed)))
			return f.b
		}},
		{name: "compressed data in the header", base: "deflate", want: ErrInvalidTable, patch: func(t *testing.T, f fixture) []byte {
			off := f.entry(t, 0, isCompressed)
			put64(f.b, off, l2Compressed|100)
			return f.b
		}},
		{name: "compressed data beyond the file", base: "deflate", want: ErrTruncated, patch: func(t *testing.T, f fixture) []byte {
			off := f.entry(t, 0, isCompressed)
			put64(f.b, off, l2Compressed|uint64(len(f.b)+100))
			return f.b
		}},
		{name: "subclusters allocated and zero", base: "ext", want: ErrInvalidTable, patch: func(t *testing.T, f fixture) []byte {
			off := f.entry(t, 0, isNormal)
			put64(f.b, off+8, 1<<32|1)
			return f.b
		}},
		{name: "allocated subclusters without a cluster", base: "ext", want: ErrInvalidTable, patch: func(t *testing.T, f fixture) []byte {
			off := f.entry(t, 0, isNormal)
			put64(f.b, off, 0)
			put64(f.b, off+8, 1)
			return f.b
		}},
		{name: "garbage deflate data", base: "deflate", want: ErrCompressedCluster, atConvert: true, patch: func(t *testing.T, f fixture) []byte {
			at := f.compressedAt(f.entry(t, 0, isCompressed))
			copy(f.b[at:], bytes.Repeat([]byte{0xff}, 64))
			return f.b
		}},
		{name: "deflate data short of a cluster", base: "deflate", want: ErrCompressedCluster, atConvert: true, patch: func(t *testing.T, f fixture) []byte {
			at := f.compressedAt(f.entry(t, 0, isCompressed))
			copy(f.b[at:], deflate(f.clusterSize()/2))
			return f.b
		}},
		{name: "deflate data over a cluster", base: "deflate", want: ErrCompressedCluster, atConvert: true, patch: func(t *testing.T, f fixture) []byte {
			at := f.compressedAt(f.entry(t, 0, isCompressed))
			copy(f.b[at:], deflate(2*f.clusterSize()))
			return f.b
		}},
		{name: "garbage zstd data", base: "zstd", want: ErrCompressedCluster, atConvert: true, patch: func(t *testing.T, f fixture) []byte {
			at := f.compressedAt(f.entry(t, 0, isCompressed))
			copy(f.b[at:], bytes.Repeat([]byte{0xff}, 64))
			return f.b
		}},
		{name: "zstd data short of a cluster", base: "zstd", want: ErrCompressedCluster, atConvert: true, patch: func(t *testing.T, f fixture) []byte {
			at := f.compressedAt(f.entry(t, 0, isCompressed))
			fr := zstdFrame(f.clusterSize() / 2)
			copy(f.b[at:], fr)
			clear(f.b[at+len(fr) : at+len(fr)+8])
			return f.b
		}},
		{name: "zstd data over a cluster", base: "zstd", want: ErrCompressedCluster, atConvert: true, patch: func(t *testing.T, f fixture) []byte {
			at := f.compressedAt(f.entry(t, 0, isCompressed))
			copy(f.b[at:], zstdFrame(2*f.clusterSize()))
			return f.b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.patch(t, fixture{b: bytes.Clone(fx[tc.base])})
			ctx := context.Background()
			img, err := openBytes(ctx, b)
			if !tc.atConvert {
				require.ErrorIs(t, err, tc.want)
				t.Log(err)
				return
			}
			require.NoError(t, err)
			err = img.Convert(ctx, discardWriter{img.VirtualSize()}, ConvertOptions{})
			require.ErrorIs(t, err, tc.want)
			t.Log(err)
		})
	}
}

// TestAcceptedPatches checks header changes that qemu accepts: the output
// must match qemu-img's.
func TestAcceptedPatches(t *testing.T) {
	fx := buildFixtures(t)
	for _, tc := range []struct {
		name  string
		base  string
		patch func(f fixture)
	}{
		// The dirty bit only means the refcounts may be stale.
		{"dirty bit", "v3", func(f fixture) { f.b[hIncompat+7] |= incompatDirty }},
		// qemu exposes whole sectors: a size of 4 MiB - 100 reads as 4 MiB - 512.
		{"size not a multiple of 512", "v3", func(f fixture) { put64(f.b, hSize, 4*mib-100) }},
		{"size not a multiple of 512, compressed", "deflate", func(f fixture) { put64(f.b, hSize, 4*mib-700) }},
		// An L1 table larger than needed (qemu grows it for VM state).
		{"L1 larger than needed", "v3", func(f fixture) { put32(f.b, hL1Size, 8) }},
		// A backing file offset with an empty name is no backing file.
		{"empty backing file name", "v3", func(f fixture) { put64(f.b, hBackingOff, 1024) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fixture{b: bytes.Clone(fx[tc.base])}
			tc.patch(f)
			dir := t.TempDir()
			p := filepath.Join(dir, "img.qcow2")
			require.NoError(t, os.WriteFile(p, f.b, 0o644))
			got := filepath.Join(dir, "go.raw")
			_, err := convertGo(t, context.Background(), p, got, defaultTuning(), ConvertOptions{})
			require.NoError(t, err)
			requireSameFile(t, qemuRaw(t, p), got)
		})
	}
}

// TestRefuseRealImages checks refusals on images made by qemu-img.
func TestRefuseRealImages(t *testing.T) {
	requireQemu(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "1M")
	for _, tc := range []struct {
		name string
		args []string
		want error
	}{
		{"backing file", []string{"-b", base, "-F", "qcow2"}, ErrBackingFile},
		{"aes", []string{"--object", "secret,id=sec0,data=password", "-o", "encrypt.format=aes,encrypt.key-secret=sec0,compat=0.10"}, ErrEncrypted},
		{"external data file", []string{"-o", "data_file=" + filepath.Join(dir, "data.raw")}, ErrExternalDataFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "img.qcow2")
			out, err := execOutput("qemu-img", append(append([]string{"create", "-q", "-f", "qcow2"}, tc.args...), p, "1M")...)
			if err != nil && tc.name == "aes" {
				t.Skipf("qemu-img cannot create AES images: %s", out)
			}
			require.NoError(t, err, "%s", out)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			_, err = openBytes(context.Background(), b)
			require.ErrorIs(t, err, tc.want)
			t.Log(err)
		})
	}
}

// TestTruncatedDuringConvert checks a file that shrinks between Open and
// Convert: the data stream ends early.
func TestTruncatedDuringConvert(t *testing.T) {
	fx := buildFixtures(t)
	b := fx["v3"]
	src := fileOpener{f: bytes.NewReader(b), size: int64(len(b))}
	img, err := Open(context.Background(), src, int64(len(b)))
	require.NoError(t, err)
	short := b[:len(b)-4096]
	img.src = fileOpener{f: bytes.NewReader(short), size: int64(len(short))}
	err = img.Convert(context.Background(), discardWriter{img.VirtualSize()}, ConvertOptions{})
	require.ErrorIs(t, err, ErrTruncated)
}

package clonestream

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCloneImage(t *testing.T) {
	const mi = 1 << 20
	text := []byte{}
	for len(text) < 3*mi {
		text = append(text, "a compressible line of a clone test\n"...)
	}
	tests := []struct {
		name      string
		size      int64
		pieces    []piece
		zeroAlloc [2]int64
		comp      Compression
		capacity  int64
	}{
		{name: "sparse, raw", size: 64 * mi, pieces: []piece{{0, pattern(4096, 1)}, {5*mi + 123, pattern(3*mi, 2)}, {63 * mi, pattern(mi, 3)}}, comp: CompressNone},
		{name: "sparse, compressed", size: 64 * mi, pieces: []piece{{mi, text}, {40 * mi, pattern(100, 4)}}, comp: CompressZstd},
		{name: "allocated zeros are holes", size: 16 * mi, pieces: []piece{{8 * mi, pattern(mi, 5)}}, zeroAlloc: [2]int64{0, 8 * mi}, comp: CompressAuto},
		{name: "all holes", size: 10 * mi, comp: CompressNone},
		{name: "empty", size: 0, comp: CompressNone},
		{name: "odd size, data at the end", size: 3*mi + 17, pieces: []piece{{3*mi + 1, pattern(16, 6)}}, comp: CompressZstd},
		{name: "grown to the capacity", size: 2 * mi, pieces: []piece{{0, pattern(10, 7)}}, comp: CompressNone, capacity: 8 * mi},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcDir, dstDir := t.TempDir(), t.TempDir()
			srcPath := makeImage(t, srcDir, tt.size, tt.pieces, tt.zeroAlloc)
			src, err := OpenSource(SourceOptions{Path: srcDir, Credential: testCred, Compression: tt.comp})
			require.NoError(t, err)
			defer src.Close()
			assert.Equal(t, KindDisk, src.Header().Kind)
			tgt := NewTarget(context.Background(), TargetOptions{Path: dstDir, Credential: testCred, Capacity: tt.capacity})
			res, serr, terr := clone(t, context.Background(), src, tgt, nil)
			require.NoError(t, serr)
			require.NoError(t, terr)
			dst := filepath.Join(dstDir, "disk.img")
			assert.Equal(t, dst, res.Path)
			assertSameImage(t, srcPath, dst, tt.capacity)
			assertHolesKept(t, srcPath, dst)
			var data int64
			for _, p := range tt.pieces {
				data += int64(len(p.data))
			}
			st := src.Stats()
			assert.LessOrEqual(t, st.Data, data+int64(len(tt.pieces))*2*zeroBlock, "only data travels")
			if tt.comp == CompressZstd && tt.name == "sparse, compressed" {
				assert.Less(t, st.Payload, st.Data/2, "text compresses")
			}
			assert.Equal(t, []string{"disk.img"}, visible(t, dstDir), "no temporary file is left")
		})
	}
}

// assertSameImage compares the content; a target grown to capacity has
// zeros after the source's end.
func assertSameImage(t *testing.T, src, dst string, capacity int64) {
	t.Helper()
	want, err := os.ReadFile(src)
	require.NoError(t, err)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	if capacity > int64(len(want)) {
		require.Len(t, got, int(capacity))
		assert.Equal(t, make([]byte, int(capacity)-len(want)), got[len(want):])
		got = got[:len(want)]
	}
	require.Equal(t, len(want), len(got))
	assert.True(t, string(want) == string(got), "content differs")
}

// TestCutAndResume cuts the connection mid-stream: nothing is published;
// the next connection resumes from the last whole piece and finishes.
func TestCutAndResume(t *testing.T) {
	const mi = 1 << 20
	srcDir, dstDir := t.TempDir(), t.TempDir()
	srcPath := makeImage(t, srcDir, 32*mi, []piece{{0, pattern(20*mi, 9)}, {30 * mi, pattern(mi, 8)}}, [2]int64{})
	src, err := OpenSource(SourceOptions{Path: srcDir, Credential: testCred, Compression: CompressNone})
	require.NoError(t, err)
	defer src.Close()
	tgt := NewTarget(context.Background(), TargetOptions{Path: dstDir, Credential: testCred})
	defer tgt.Close()

	_, serr, terr := clone(t, context.Background(), src, tgt, func(c net.Conn) net.Conn { return &cutConn{Conn: c, limit: 7*mi + 333} })
	assert.True(t, Retryable(serr), "source: %v", serr)
	assert.True(t, Retryable(terr), "target: %v", terr)
	assert.NotContains(t, visible(t, dstDir), "disk.img", "nothing published")

	res, serr, terr := clone(t, context.Background(), src, tgt, nil)
	require.NoError(t, serr)
	require.NoError(t, terr)
	assert.Greater(t, src.Stats().Resumed, int64(4*mi), "resumed, not restarted")
	assert.Zero(t, src.Stats().Resumed%ChunkSize)
	assertSameImage(t, srcPath, res.Path, 0)
	assertHolesKept(t, srcPath, res.Path)
}

// TestRestartAfterSourceRestart: a new source process (a new stream id)
// makes the target start over, and the result is still right.
func TestRestartAfterSourceRestart(t *testing.T) {
	const mi = 1 << 20
	srcDir, dstDir := t.TempDir(), t.TempDir()
	srcPath := makeImage(t, srcDir, 8*mi, []piece{{0, pattern(6*mi, 3)}}, [2]int64{})
	tgt := NewTarget(context.Background(), TargetOptions{Path: dstDir, Credential: testCred})
	defer tgt.Close()
	first, err := OpenSource(SourceOptions{Path: srcDir, Credential: testCred, Compression: CompressNone})
	require.NoError(t, err)
	_, serr, _ := clone(t, context.Background(), first, tgt, func(c net.Conn) net.Conn { return &cutConn{Conn: c, limit: 3 * mi} })
	require.True(t, Retryable(serr))
	first.Close()

	second, err := OpenSource(SourceOptions{Path: srcDir, Credential: testCred, Compression: CompressNone})
	require.NoError(t, err)
	defer second.Close()
	res, serr, terr := clone(t, context.Background(), second, tgt, nil)
	require.NoError(t, serr)
	require.NoError(t, terr)
	assert.Zero(t, second.Stats().Resumed)
	assertSameImage(t, srcPath, res.Path, 0)
}

func TestWrongCredential(t *testing.T) {
	srcDir, dstDir := t.TempDir(), t.TempDir()
	makeImage(t, srcDir, 1<<20, []piece{{0, pattern(10, 1)}}, [2]int64{})
	src, err := OpenSource(SourceOptions{Path: srcDir, Credential: []byte("not-the-clone-credential")})
	require.NoError(t, err)
	defer src.Close()
	tgt := NewTarget(context.Background(), TargetOptions{Path: dstDir, Credential: testCred})
	_, serr, terr := clone(t, context.Background(), src, tgt, nil)
	assert.ErrorIs(t, serr, ErrUnauthorized)
	assert.ErrorIs(t, terr, ErrUnauthorized)
	assert.Empty(t, visible(t, dstDir), "nothing was even opened")
}

func TestTargetTooSmall(t *testing.T) {
	srcDir, dstDir := t.TempDir(), t.TempDir()
	makeImage(t, srcDir, 4<<20, []piece{{0, pattern(10, 1)}}, [2]int64{})
	src, err := OpenSource(SourceOptions{Path: srcDir, Credential: testCred})
	require.NoError(t, err)
	defer src.Close()
	tgt := NewTarget(context.Background(), TargetOptions{Path: dstDir, Credential: testCred, Capacity: 2 << 20})
	_, serr, terr := clone(t, context.Background(), src, tgt, nil)
	assert.ErrorIs(t, serr, ErrRefused)
	assert.ErrorContains(t, serr, "does not fit")
	assert.ErrorIs(t, terr, ErrRefused)
	assert.Empty(t, visible(t, dstDir))
}

package qcow2

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
)

func TestZstdClusters(t *testing.T) {
	const cs = 4096
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(true))
	require.NoError(t, err)
	plain := make([]byte, cs)
	for i := range plain {
		plain[i] = byte(i * 7 / 5)
	}
	frame := func(p []byte) []byte { return enc.EncodeAll(p, nil) }
	skippable := func(n int) []byte {
		b := make([]byte, 8+n)
		binary.LittleEndian.PutUint32(b, 0x184D2A53)
		binary.LittleEndian.PutUint32(b[4:], uint32(n))
		return b
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		src  []byte
		ok   bool
	}{
		{"one frame", frame(plain), true},
		// The rest of the last sector belongs to the next cluster.
		{"one frame then the next cluster", cat(frame(plain), frame(plain)), true},
		{"one frame then garbage", cat(frame(plain), bytes.Repeat([]byte{0xee}, 300)), true},
		{"two frames", cat(frame(plain[:1000]), frame(plain[1000:])), true},
		{"skippable frame first", cat(skippable(10), frame(plain)), true},
		{"short", frame(plain[:cs-1]), false},
		{"short then garbage", cat(frame(plain[:cs-1]), []byte{1, 2, 3, 4, 5, 6, 7, 8}), false},
		{"long", frame(append(plain, 1)), false},
		{"frames overrun the cluster", cat(frame(plain[:3000]), frame(plain[:3000])), false},
		{"truncated frame", frame(plain)[:20], false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := newDecompressor(CompressionZstd)
			require.NoError(t, err)
			defer d.close()
			buf := make([]byte, cs+decompressSlack)
			err = d.decompress(buf[:cs], tc.src)
			if !tc.ok {
				require.ErrorIs(t, err, ErrCompressedCluster)
				return
			}
			require.NoError(t, err)
			require.Equal(t, plain, buf[:cs])
		})
	}
}

func TestZstdFrameLen(t *testing.T) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(true), zstd.WithSingleSegment(false))
	require.NoError(t, err)
	for _, n := range []int{0, 1, 100, 5000, 300 << 10} {
		f := enc.EncodeAll(bytes.Repeat([]byte("qcow2 "), n), nil)
		got, err := zstdFrameLen(append(f, 0xaa, 0xbb))
		require.NoError(t, err)
		require.Equal(t, len(f), got, "n=%d", n)
	}
}

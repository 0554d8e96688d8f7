package qcow2

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// entryKinds counts the kinds of L2 entries of an image file, decoded
// independently of decodeTable, to check that a fixture has the features a
// test relies on.
type entryKinds struct {
	normal, compressed, zeroPlain, zeroAlloc, partialSubclusters int
}

func countKinds(t *testing.T, img *Image, path string) entryKinds {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var k entryKinds
	cs := img.h.clusterSize
	for _, off := range img.l2 {
		if off == 0 {
			continue
		}
		tab := b[off : int64(off)+cs]
		for i := int64(0); i < img.h.l2Entries; i++ {
			var e, bm uint64
			if img.h.extendedL2 {
				e, bm = binary.BigEndian.Uint64(tab[i*16:]), binary.BigEndian.Uint64(tab[i*16+8:])
			} else {
				e = binary.BigEndian.Uint64(tab[i*8:])
			}
			switch {
			case e&(1<<62) != 0:
				k.compressed++
			case img.h.extendedL2 && e&l1OffsetMask != 0:
				k.normal++
				if uint32(bm) != 0xffffffff {
					k.partialSubclusters++
				}
			case img.h.extendedL2 && bm>>32 != 0:
				k.zeroPlain++
			case e&1 != 0 && e&l1OffsetMask != 0:
				k.zeroAlloc++
			case e&1 != 0:
				k.zeroPlain++
			case e&l1OffsetMask != 0:
				k.normal++
			}
		}
	}
	return k
}

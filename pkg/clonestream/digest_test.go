package clonestream

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDigestIndependentOfExtents: the digest is of the content, whatever
// the extents were and whether zeros came as holes or bytes.
func TestDigestIndependentOfExtents(t *testing.T) {
	hdr := Header{Kind: KindDisk, Size: 3*ChunkSize + 5}
	content := make([]byte, hdr.Size)
	copy(content[ChunkSize+10:], pattern(ChunkSize, 3))
	whole := sumOf(hdr, func(d *Digest) { d.Data(content) })
	pieces := sumOf(hdr, func(d *Digest) {
		d.Zeros(ChunkSize + 10)
		d.Data(content[ChunkSize+10 : 2*ChunkSize+10])
		d.Data(content[2*ChunkSize+10 : 2*ChunkSize+11])
		d.Zeros(hdr.Size - (2*ChunkSize + 11))
	})
	assert.Equal(t, whole, pieces)
	other := sumOf(hdr, func(d *Digest) { d.Data(content[:hdr.Size-1]); d.Data([]byte{1}) })
	assert.NotEqual(t, whole, other)
	assert.NotEqual(t, whole, sumOf(Header{Kind: KindBlock, Size: hdr.Size}, func(d *Digest) { d.Data(content) }), "the header is digested")

	// Rewinding and feeding again gives the same digest.
	d := NewDigest(hdr)
	d.Data(content[:2*ChunkSize+100])
	assert.NoError(t, d.Rewind(ChunkSize))
	d.Data(content[ChunkSize:])
	assert.Equal(t, whole, d.Sum())
	assert.Error(t, d.Rewind(10), "only whole pieces")
}

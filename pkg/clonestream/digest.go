package clonestream

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
)

// digestPrefix starts the SHA-256 input of Digest v1.
const digestPrefix = "cdi-clone-digest-v1\x00"

// Digest computes Digest v1 of a stream's logical content (see the package
// documentation): both ends feed it the same content in order, whatever
// the extents were.
type Digest struct {
	hdr   Header
	h     hash.Hash
	table *crc32.Table
	// zeroCRC is the CRC-32C of a ChunkSize piece of zeros, once known.
	zeroCRC uint32
	zeroOK  bool
	zeros   []byte
	// crcs are an image's piece CRCs, kept so that a resume can rewind;
	// a tree's go to h as they are made.
	crcs []uint32
	// crc and fill are the piece being made: its CRC so far and length.
	crc  uint32
	fill int64
	// pos is the offset in the image or the current file.
	pos int64
}

// NewDigest starts the digest of the stream hdr opens.
func NewDigest(hdr Header) *Digest {
	d := &Digest{hdr: hdr, h: sha256.New(), table: crc32.MakeTable(crc32.Castagnoli), zeros: make([]byte, 64<<10)}
	if !hdr.Kind.Image() {
		d.h.Write(d.prefix())
	}
	return d
}

// prefix is what the SHA-256 input starts with.
func (d *Digest) prefix() []byte {
	b := append([]byte(digestPrefix), byte(d.hdr.Kind))
	b = binary.BigEndian.AppendUint64(b, uint64(d.hdr.Size))
	return binary.BigEndian.AppendUint64(b, uint64(d.hdr.Entries))
}

// Pos is how much content of the image (or the current file) was fed.
func (d *Digest) Pos() int64 { return d.pos }

// Entry starts a tree entry: the previous file's last piece ends.
func (d *Digest) Entry(e Entry) {
	d.endPiece()
	d.pos = 0
	d.h.Write(e.append(nil))
}

// Data feeds content bytes.
func (d *Digest) Data(p []byte) {
	d.pos += int64(len(p))
	for len(p) > 0 {
		n := min(int64(len(p)), ChunkSize-d.fill)
		d.crc = crc32.Update(d.crc, d.table, p[:n])
		d.fill += n
		p = p[n:]
		if d.fill == ChunkSize {
			d.endPiece()
		}
	}
}

// Zeros feeds n bytes of zeros (a hole): whole pieces cost nothing.
func (d *Digest) Zeros(n int64) {
	d.pos += n
	for n > 0 {
		if d.fill == 0 && n >= ChunkSize {
			if !d.zeroOK {
				for range ChunkSize / len(d.zeros) {
					d.zeroCRC = crc32.Update(d.zeroCRC, d.table, d.zeros)
				}
				d.zeroOK = true
			}
			d.piece(d.zeroCRC)
			n -= ChunkSize
			continue
		}
		k := min(n, ChunkSize-d.fill, int64(len(d.zeros)))
		d.crc = crc32.Update(d.crc, d.table, d.zeros[:k])
		d.fill += k
		n -= k
		if d.fill == ChunkSize {
			d.endPiece()
		}
	}
}

func (d *Digest) endPiece() {
	if d.fill > 0 {
		d.piece(d.crc)
	}
}

func (d *Digest) piece(crc uint32) {
	d.crc, d.fill = 0, 0
	if d.hdr.Kind.Image() {
		d.crcs = append(d.crcs, crc)
		return
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc)
	d.h.Write(b[:])
}

// Rewind forgets an image's content from off on, a multiple of ChunkSize
// at most Pos: the source resends it after a resume.
func (d *Digest) Rewind(off int64) error {
	if !d.hdr.Kind.Image() || off < 0 || off%ChunkSize != 0 || off > d.pos {
		return fmt.Errorf("rewind the digest of a %s at %d to %d: not possible", d.hdr.Kind, d.pos, off)
	}
	d.crcs = d.crcs[:off/ChunkSize]
	d.crc, d.fill, d.pos = 0, 0, off
	return nil
}

// Sum ends the content and returns the digest.
func (d *Digest) Sum() [32]byte {
	d.endPiece()
	h := d.h
	if d.hdr.Kind.Image() {
		// From the kept CRCs: Sum may be called again after a Rewind.
		h = sha256.New()
		b := d.prefix()
		for _, c := range d.crcs {
			b = binary.BigEndian.AppendUint32(b, c)
		}
		h.Write(b)
	}
	var s [32]byte
	h.Sum(s[:0])
	return s
}

package clonestream

import (
	"fmt"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// transfer is one stream being received: what was declared, what arrived
// so far, and where it goes. Every record is checked against the header
// before anything is written.
type transfer struct {
	hdr  Header
	sink sink
	dig  *Digest
	dec  *zstd.Decoder
	buf  []byte
	out  []byte
	// pos is the offset reached in the image or the current file.
	pos int64
	// file is the tree entry whose content comes (nil: none).
	file *Entry
	// entries and total count a tree's entries and file bytes so far.
	entries int64
	total   int64
	// started: a record was applied (a tree then cannot resume).
	started bool
}

func newTransfer(hdr Header, s sink) (*transfer, error) {
	return &transfer{hdr: hdr, sink: s, dig: NewDigest(hdr), buf: make([]byte, ChunkSize)}, nil
}

// decoder is the zstd decoder, made on the first compressed extent.
func (t *transfer) decoder() (*zstd.Decoder, error) {
	if t.dec == nil {
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(ChunkSize),
			zstd.WithDecoderMaxWindow(ChunkSize))
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
		t.dec, t.out = dec, make([]byte, 0, ChunkSize)
	}
	return t.dec, nil
}

func (t *transfer) close() {
	if t.dec != nil {
		t.dec.Close()
	}
}

// resumeAt is where a new connection continues, after which everything
// from there on is taken again: an image from the last whole piece, a
// tree from the start (false: the target must start over).
func (t *transfer) resumeAt() (int64, bool) {
	if t.hdr.Kind == KindTree {
		return 0, !t.started
	}
	off := t.pos / ChunkSize * ChunkSize
	if err := t.dig.Rewind(off); err != nil {
		return 0, false
	}
	t.pos = off
	return off, true
}

// apply checks and applies one record; the trailer returns done.
func (t *transfer) apply(rec record) (bool, error) {
	t.started = true
	switch rec.typ {
	case recordData, recordHole:
		return false, t.extent(rec)
	case recordEntry:
		return false, t.entry(rec.entry)
	case recordTrailer:
		if err := t.complete(); err != nil {
			return false, err
		}
		if sum := t.dig.Sum(); sum != rec.sum {
			return false, fmt.Errorf("%w: the content received has digest %x, the source sent %x", ErrDigest, sum, rec.sum)
		}
		return true, nil
	}
	return false, protocolError("unknown record %#x", rec.typ)
}

func (t *transfer) extent(rec record) error {
	limit := t.hdr.Size
	if t.hdr.Kind == KindTree {
		if t.file == nil {
			return protocolError("an extent outside a regular file")
		}
		limit = t.file.Size
	}
	switch {
	case rec.off != t.pos:
		return protocolError("an extent at %d where %d was expected (extents must follow each other without gaps or overlaps)", rec.off, t.pos)
	case rec.n > limit-rec.off:
		return protocolError("an extent of %d bytes at %d passes the size %d", rec.n, rec.off, limit)
	}
	if rec.typ == recordHole {
		t.dig.Zeros(rec.n)
		t.pos += rec.n
		return t.sink.hole(rec.off, rec.n)
	}
	if rec.off/ChunkSize != (rec.off+rec.n-1)/ChunkSize {
		return protocolError("a data extent of %d bytes at %d crosses a multiple of %d", rec.n, rec.off, ChunkSize)
	}
	p := rec.payload
	if rec.enc == EncodingZstd {
		dec, err := t.decoder()
		if err != nil {
			return err
		}
		out, err := dec.DecodeAll(p, t.out[:0])
		switch {
		case err != nil:
			return protocolError("data extent at %d: zstd: %v", rec.off, err)
		case int64(len(out)) != rec.n:
			return protocolError("data extent at %d: %d bytes decompressed to %d", rec.off, rec.n, len(out))
		}
		p = out
	}
	t.dig.Data(p)
	t.pos += rec.n
	return t.sink.data(rec.off, p)
}

func (t *transfer) entry(e Entry) error {
	switch {
	case t.hdr.Kind != KindTree:
		return protocolError("an entry %q in a %s", e.Path, t.hdr.Kind)
	case t.file != nil && t.pos != t.file.Size:
		return protocolError("entry %q before the end of %q (%d of %d bytes)", e.Path, t.file.Path, t.pos, t.file.Size)
	case t.entries >= t.hdr.Entries:
		return protocolError("more entries than the %d declared", t.hdr.Entries)
	case e.Size > t.hdr.Size-t.total:
		return protocolError("entry %q: files larger than the %d bytes declared", e.Path, t.hdr.Size)
	case path.Clean(e.Path) != e.Path || strings.HasPrefix(e.Path, "/") || e.Path == ".." || strings.HasPrefix(e.Path, "../"):
		return protocolError("entry %q: not a clean relative path", e.Path)
	}
	t.entries++
	t.total += e.Size
	t.dig.Entry(e)
	t.pos, t.file = 0, nil
	if e.Type == EntryFile {
		t.file = &e
	}
	return t.sink.entry(e)
}

// complete checks that everything declared arrived.
func (t *transfer) complete() error {
	if t.hdr.Kind != KindTree {
		if t.pos != t.hdr.Size {
			return protocolError("the trailer after %d of %d bytes", t.pos, t.hdr.Size)
		}
		return nil
	}
	switch {
	case t.file != nil && t.pos != t.file.Size:
		return protocolError("the trailer before the end of %q (%d of %d bytes)", t.file.Path, t.pos, t.file.Size)
	case t.entries != t.hdr.Entries || t.total != t.hdr.Size:
		return protocolError("the trailer after %d of %d entries and %d of %d bytes", t.entries, t.hdr.Entries, t.total, t.hdr.Size)
	}
	return nil
}

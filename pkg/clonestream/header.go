package clonestream

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// headerLen is the encoded size of a Header.
const headerLen = 16 + 1 + 1 + 8 + 8

// Header opens a stream: what it carries.
type Header struct {
	// Stream identifies one transfer: a source that reconnects with the
	// same id may resume where the target is.
	Stream [16]byte
	// Kind is what the stream carries.
	Kind Kind
	// Size is the logical size of the image, or for a tree the total
	// size of its regular files.
	Size int64
	// Entries is the number of entries of a tree (0 for an image).
	Entries int64
}

// NewStreamID returns a random stream id.
func NewStreamID() ([16]byte, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return id, fmt.Errorf("stream id: %w", err)
	}
	return id, nil
}

// Validate checks the header's fields.
func (h Header) Validate() error {
	switch {
	case h.Kind != KindDisk && h.Kind != KindBlock && h.Kind != KindTree:
		return protocolError("unknown kind %d", h.Kind)
	case h.Size < 0:
		return protocolError("negative size %d", h.Size)
	case h.Kind.Image() && h.Entries != 0:
		return protocolError("an image with %d entries", h.Entries)
	case h.Kind == KindTree && (h.Entries < 1 || h.Entries > MaxEntries):
		return protocolError("a tree of %d entries (want 1 to %d)", h.Entries, MaxEntries)
	}
	return nil
}

func (h Header) append(b []byte) []byte {
	b = append(b, h.Stream[:]...)
	b = append(b, byte(h.Kind), 0)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Size))
	return binary.BigEndian.AppendUint64(b, uint64(h.Entries))
}

func parseHeader(b []byte) (Header, error) {
	var h Header
	copy(h.Stream[:], b[:16])
	h.Kind = Kind(b[16])
	if b[17] != 0 {
		return h, protocolError("header flags %#x: none are defined", b[17])
	}
	size, entries := binary.BigEndian.Uint64(b[18:]), binary.BigEndian.Uint64(b[26:])
	if size > 1<<62 || entries > 1<<62 {
		return h, protocolError("header size %d, entries %d: out of range", size, entries)
	}
	h.Size, h.Entries = int64(size), int64(entries)
	return h, h.Validate()
}

// Entry is one entry of a tree.
type Entry struct {
	Type EntryType
	// Path is clean and relative ("a/b").
	Path string
	// Mode holds the permission bits (0o777 at most).
	Mode uint32
	// Size is the length of a regular file's content (0 for the others).
	Size int64
	// Link is a symbolic link's target, or a hard link's earlier path.
	Link string
}

// Validate checks the entry's fields as the wire format defines them
// (the target's extraction rules check the paths further).
func (e Entry) Validate() error {
	switch {
	case e.Type < EntryFile || e.Type > EntryHardlink:
		return protocolError("entry %q: unknown type %d", e.Path, e.Type)
	case e.Path == "" || len(e.Path) > MaxPath:
		return protocolError("entry path of %d bytes (want 1 to %d)", len(e.Path), MaxPath)
	case e.Mode&^0o777 != 0:
		return protocolError("entry %q: mode %#o has more than permission bits", e.Path, e.Mode)
	case e.Size < 0 || (e.Type != EntryFile && e.Size != 0):
		return protocolError("entry %q: size %d for type %d", e.Path, e.Size, e.Type)
	case len(e.Link) > MaxPath:
		return protocolError("entry %q: link of %d bytes", e.Path, len(e.Link))
	case (e.Type == EntrySymlink || e.Type == EntryHardlink) != (e.Link != ""):
		return protocolError("entry %q: a link target for type %d", e.Path, e.Type)
	}
	return nil
}

// appendEntry encodes e without the record type.
func (e Entry) append(b []byte) []byte {
	b = append(b, byte(e.Type))
	b = binary.BigEndian.AppendUint32(b, e.Mode)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Size))
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Path)))
	b = append(b, e.Path...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Link)))
	return append(b, e.Link...)
}

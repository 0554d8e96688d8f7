package clonestream

import "fmt"

// Version is the version of the wire format this package speaks.
const Version = 1

// Magic starts every stream.
const Magic = "CDICLONE"

// ChunkSize is the unit of the digest and the largest data extent.
const ChunkSize = 1 << 20

// Bounds of the fields a target accepts.
const (
	// MaxCredential is the longest credential a hello may carry.
	MaxCredential = 1024
	// MaxMessage is the longest message of an accept or a result.
	MaxMessage = 4096
	// MaxPath is the longest path or link target of a tree entry.
	MaxPath = 4096
	// MaxEntries is the most entries a tree may have (as many as an
	// archive import may extract).
	MaxEntries = 1 << 20
)

// Kind is what a stream carries.
type Kind uint8

// The kinds of streams.
const (
	// KindDisk is a disk image: disk.img of a Filesystem claim.
	KindDisk Kind = 1
	// KindBlock is the raw content of a block device.
	KindBlock Kind = 2
	// KindTree is a filesystem tree: a claim that holds an archive import.
	KindTree Kind = 3
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindDisk:
		return "disk image"
	case KindBlock:
		return "block device"
	case KindTree:
		return "filesystem tree"
	}
	return fmt.Sprintf("kind %d", uint8(k))
}

// Image reports whether the kind is one raw image (a disk image or a
// block device), which any raw target can hold.
func (k Kind) Image() bool { return k == KindDisk || k == KindBlock }

// Record types.
const (
	recordData    = 'D'
	recordHole    = 'H'
	recordEntry   = 'E'
	recordTrailer = 'T'
)

// Encoding is how a data extent's bytes travel.
type Encoding uint8

// The encodings of data extents.
const (
	// EncodingRaw sends the bytes as they are.
	EncodingRaw Encoding = 0
	// EncodingZstd sends a zstd frame of the bytes, smaller than them.
	EncodingZstd Encoding = 1
)

// EntryType is the type of a tree entry.
type EntryType uint8

// The types of tree entries.
const (
	EntryFile     EntryType = 1
	EntryDir      EntryType = 2
	EntrySymlink  EntryType = 3
	EntryHardlink EntryType = 4
)

// Status of an accept or a result.
type Status uint8

// Statuses.
const (
	// StatusOK: accepted, or published.
	StatusOK Status = 0
	// StatusFailed: refused or failed, and retrying cannot help.
	StatusFailed Status = 1
	// StatusUnauthorized: the credential was not the clone's.
	StatusUnauthorized Status = 2
)

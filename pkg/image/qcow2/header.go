package qcow2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// Limits on header values. Images beyond them are refused.
const (
	// MinClusterBits is log2 of the smallest cluster size (512 B), as in qemu.
	MinClusterBits = 9
	// MaxClusterBits is log2 of the largest cluster size (2 MiB), as in qemu.
	MaxClusterBits = 21
	// MaxVirtualSize is the largest virtual size accepted (64 TiB).
	MaxVirtualSize int64 = 64 << 40
	// maxL1Bytes is qemu's limit on the active L1 table (QCOW_MAX_L1_SIZE).
	maxL1Bytes = 32 << 20
	// maxSnapshots is qemu's limit on the number of internal snapshots.
	maxSnapshots = 65536
	// headerReadSize is how much of the file start Open reads for the header.
	headerReadSize = 4096
	// v2HeaderLength and v3MinHeaderLength are the fixed header lengths.
	v2HeaderLength    = 72
	v3MinHeaderLength = 104
)

// magic is "QFI\xfb", the first four bytes of every qcow2 file.
var magic = []byte{'Q', 'F', 'I', 0xfb}

// IsQcow2 reports whether head, the first bytes of a file, starts with the
// qcow2 magic.
func IsQcow2(head []byte) bool {
	return len(head) >= len(magic) && bytes.Equal(head[:len(magic)], magic)
}

// CompressionType is the algorithm of compressed clusters (header byte 104).
type CompressionType uint8

// Compression types defined by the qcow2 specification.
const (
	// CompressionDeflate is raw deflate (qemu calls it zlib); the default.
	CompressionDeflate CompressionType = 0
	// CompressionZstd is zstd (version 3 images with incompatible bit 3).
	CompressionZstd CompressionType = 1
)

// String returns the name qemu-img uses for the compression type.
func (c CompressionType) String() string {
	switch c {
	case CompressionDeflate:
		return "zlib"
	case CompressionZstd:
		return "zstd"
	default:
		return fmt.Sprintf("unknown(%d)", uint8(c))
	}
}

// Incompatible feature bits (header bytes 72-79).
const (
	incompatDirty       = 1 << 0
	incompatCorrupt     = 1 << 1
	incompatDataFile    = 1 << 2
	incompatCompression = 1 << 3
	incompatExtendedL2  = 1 << 4
	incompatKnown       = incompatDirty | incompatCorrupt | incompatDataFile | incompatCompression | incompatExtendedL2
)

// header holds the fields of a qcow2 header that the reader uses.
type header struct {
	version          uint32
	backingOffset    uint64
	backingSize      uint32
	clusterBits      uint32
	size             uint64
	cryptMethod      uint32
	l1Size           uint32
	l1Offset         uint64
	refcountOffset   uint64
	nbSnapshots      uint32
	snapshotsOffset  uint64
	incompatible     uint64
	refcountOrder    uint32
	headerLength     uint32
	compression      CompressionType
	clusterSize      int64
	extendedL2       bool
	l2Entries        int64 // entries per L2 table
	l1Needed         int64 // L1 entries that cover the virtual size
	virtualSize      int64 // guest-visible size: size rounded down to 512
	compressedFields compressedFields
}

// compressedFields describes the layout of a compressed L2 entry.
type compressedFields struct {
	offsetMask uint64 // host offset bits
	sizeShift  uint   // first bit of the sector count
	sizeMask   uint64 // sector count bits, after shifting
}

// Header is what the header of a qcow2 file says about the image, known
// before the rest of the file is read.
type Header struct {
	// Version is 2 (compat 0.10) or 3 (compat 1.1).
	Version int
	// VirtualSize is the size of the guest disk in bytes, the size of the
	// raw output.
	VirtualSize int64
	// ClusterSize is the cluster size in bytes.
	ClusterSize int64
}

// ParseHeader validates the header of a qcow2 file from head, its first
// bytes (HeaderSize of them, or the whole file if it is shorter), without
// reading the rest of the file. fileSize is the size of the file, or -1
// when it is not known yet (a stream about to be spooled): the checks that
// the tables lie within the file are then left to Open. Everything Open
// refuses in the header (backing files, encryption, external data files,
// unknown features, impossible fields) is refused here too, so a caller
// can refuse an image before it fetches it.
func ParseHeader(head []byte, fileSize int64) (Header, error) {
	switch {
	case fileSize >= 0:
	case len(head) < HeaderSize:
		fileSize = int64(len(head)) // the whole file
	default:
		fileSize = math.MaxInt64
	}
	h, err := parseHeader(head[:min(len(head), HeaderSize)], fileSize)
	if err != nil {
		return Header{}, err
	}
	return Header{Version: int(h.version), VirtualSize: h.virtualSize, ClusterSize: h.clusterSize}, nil
}

// HeaderSize is how many leading bytes of a file ParseHeader reads.
const HeaderSize = headerReadSize

// parseHeader decodes and validates the header in b, the first bytes of a
// file of fileSize bytes.
func parseHeader(b []byte, fileSize int64) (*header, error) {
	if len(b) >= len(magic) && !IsQcow2(b) {
		return nil, fmt.Errorf("%w: magic %q", ErrNotQcow2, b[:len(magic)])
	}
	if len(b) < v2HeaderLength {
		if len(b) < len(magic) {
			return nil, fmt.Errorf("%w: %d bytes", ErrNotQcow2, len(b))
		}
		return nil, fmt.Errorf("%w: file of %d bytes is shorter than a qcow2 header", ErrTruncated, fileSize)
	}
	be := binary.BigEndian
	h := &header{
		version:         be.Uint32(b[4:]),
		backingOffset:   be.Uint64(b[8:]),
		backingSize:     be.Uint32(b[16:]),
		clusterBits:     be.Uint32(b[20:]),
		size:            be.Uint64(b[24:]),
		cryptMethod:     be.Uint32(b[32:]),
		l1Size:          be.Uint32(b[36:]),
		l1Offset:        be.Uint64(b[40:]),
		refcountOffset:  be.Uint64(b[48:]),
		nbSnapshots:     be.Uint32(b[60:]),
		snapshotsOffset: be.Uint64(b[64:]),
		refcountOrder:   4,
		headerLength:    v2HeaderLength,
	}
	switch h.version {
	case 2:
	case 3:
		if len(b) < v3MinHeaderLength {
			return nil, fmt.Errorf("%w: file of %d bytes is shorter than a version 3 header", ErrTruncated, fileSize)
		}
		h.incompatible = be.Uint64(b[72:])
		h.refcountOrder = be.Uint32(b[96:])
		h.headerLength = be.Uint32(b[100:])
	default:
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedVersion, h.version)
	}
	if h.clusterBits < MinClusterBits || h.clusterBits > MaxClusterBits {
		return nil, fmt.Errorf("%w: cluster_bits %d outside [%d, %d]", ErrInvalidHeader, h.clusterBits, MinClusterBits, MaxClusterBits)
	}
	h.clusterSize = 1 << h.clusterBits
	if h.version == 3 {
		if h.headerLength < v3MinHeaderLength {
			return nil, fmt.Errorf("%w: header_length %d < %d", ErrInvalidHeader, h.headerLength, v3MinHeaderLength)
		}
		if int64(h.headerLength) > h.clusterSize {
			return nil, fmt.Errorf("%w: header_length %d exceeds the cluster size %d", ErrInvalidHeader, h.headerLength, h.clusterSize)
		}
		if h.headerLength > v3MinHeaderLength {
			if len(b) <= v3MinHeaderLength {
				return nil, fmt.Errorf("%w: file of %d bytes ends inside the header", ErrTruncated, fileSize)
			}
			h.compression = CompressionType(b[v3MinHeaderLength])
		}
		if h.refcountOrder > 6 {
			return nil, fmt.Errorf("%w: refcount_order %d > 6", ErrInvalidHeader, h.refcountOrder)
		}
	}
	if err := h.checkFeatures(b); err != nil {
		return nil, err
	}
	if err := h.checkGeometry(fileSize); err != nil {
		return nil, err
	}
	h.compressedFields = compressedFields{
		sizeShift: uint(62 - (h.clusterBits - 8)),
		sizeMask:  1<<(h.clusterBits-8) - 1,
	}
	h.compressedFields.offsetMask = 1<<h.compressedFields.sizeShift - 1
	return h, nil
}

// checkFeatures refuses the features the reader does not support.
func (h *header) checkFeatures(b []byte) error {
	if h.backingOffset != 0 && h.backingSize != 0 {
		name := ""
		if end := h.backingOffset + uint64(h.backingSize); h.backingSize <= 1023 && end <= uint64(len(b)) {
			name = string(b[h.backingOffset:end])
		}
		return fmt.Errorf("%w %q", ErrBackingFile, name)
	}
	if h.cryptMethod != 0 {
		return fmt.Errorf("%w (crypt_method %d)", ErrEncrypted, h.cryptMethod)
	}
	if h.incompatible&incompatCorrupt != 0 {
		return ErrCorrupt
	}
	if h.incompatible&incompatDataFile != 0 {
		return ErrExternalDataFile
	}
	if unknown := h.incompatible &^ incompatKnown; unknown != 0 {
		return fmt.Errorf("%w: bits %#x", ErrUnsupportedFeature, unknown)
	}
	switch h.compression {
	case CompressionDeflate:
		if h.incompatible&incompatCompression != 0 {
			return fmt.Errorf("%w: compression type bit set with zlib compression", ErrInvalidHeader)
		}
	case CompressionZstd:
		if h.incompatible&incompatCompression == 0 {
			return fmt.Errorf("%w: compression type bit not set with zstd compression", ErrInvalidHeader)
		}
	default:
		return fmt.Errorf("%w: %d", ErrUnsupportedCompression, uint8(h.compression))
	}
	h.extendedL2 = h.incompatible&incompatExtendedL2 != 0
	if h.extendedL2 && h.clusterBits < 14 {
		return fmt.Errorf("%w: cluster size %d too small for extended L2 entries", ErrInvalidHeader, h.clusterSize)
	}
	return nil
}

// checkGeometry validates the virtual size and the table locations.
func (h *header) checkGeometry(fileSize int64) error {
	if h.size > uint64(MaxVirtualSize) {
		return fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, h.size, MaxVirtualSize)
	}
	// qemu exposes whole 512-byte sectors only.
	h.virtualSize = int64(h.size) &^ 511
	entrySize := int64(8)
	if h.extendedL2 {
		entrySize = 16
	}
	h.l2Entries = h.clusterSize / entrySize
	l2Span := h.clusterSize * h.l2Entries
	h.l1Needed = (int64(h.size) + l2Span - 1) / l2Span
	if int64(h.l1Size)*8 > maxL1Bytes {
		return fmt.Errorf("%w: L1 table of %d entries exceeds %d bytes", ErrInvalidHeader, h.l1Size, maxL1Bytes)
	}
	if int64(h.l1Size) < h.l1Needed {
		return fmt.Errorf("%w: L1 table of %d entries is too small for a virtual size of %d bytes (needs %d)", ErrInvalidHeader, h.l1Size, h.size, h.l1Needed)
	}
	mask := uint64(h.clusterSize - 1)
	if h.l1Offset&mask != 0 {
		return fmt.Errorf("%w: L1 table offset %#x is not cluster aligned", ErrInvalidHeader, h.l1Offset)
	}
	if h.l1Size > 0 {
		if h.l1Offset < uint64(h.clusterSize) {
			return fmt.Errorf("%w: L1 table offset %#x overlaps the header", ErrInvalidHeader, h.l1Offset)
		}
		if h.l1Offset > uint64(fileSize) || uint64(fileSize)-h.l1Offset < uint64(h.l1Size)*8 {
			return fmt.Errorf("%w: L1 table at %#x (%d entries) ends beyond the end of the file (%d bytes)", ErrTruncated, h.l1Offset, h.l1Size, fileSize)
		}
	}
	if h.refcountOffset&mask != 0 {
		return fmt.Errorf("%w: refcount table offset %#x is not cluster aligned", ErrInvalidHeader, h.refcountOffset)
	}
	if h.nbSnapshots > maxSnapshots {
		return fmt.Errorf("%w: %d snapshots > %d", ErrInvalidHeader, h.nbSnapshots, maxSnapshots)
	}
	if h.snapshotsOffset&mask != 0 {
		return fmt.Errorf("%w: snapshot table offset %#x is not cluster aligned", ErrInvalidHeader, h.snapshotsOffset)
	}
	return nil
}

package qcow2

import "errors"

// Errors returned by Open and Convert. They are wrapped with details; test
// for them with errors.Is.
var (
	// ErrNotQcow2 means the file does not start with the qcow2 magic.
	ErrNotQcow2 = errors.New("not a qcow2 image")
	// ErrUnsupportedVersion means the header version is neither 2 nor 3.
	ErrUnsupportedVersion = errors.New("unsupported qcow2 version")
	// ErrInvalidHeader means a header field has an impossible value.
	ErrInvalidHeader = errors.New("invalid qcow2 header")
	// ErrTooLarge means the virtual size exceeds MaxVirtualSize.
	ErrTooLarge = errors.New("qcow2 virtual size too large")
	// ErrBackingFile means the image has a backing file: its unallocated
	// clusters would come from another image, which is not available.
	ErrBackingFile = errors.New("qcow2 image has a backing file")
	// ErrEncrypted means the image is encrypted (AES or LUKS).
	ErrEncrypted = errors.New("qcow2 image is encrypted")
	// ErrExternalDataFile means the guest data lives in another file.
	ErrExternalDataFile = errors.New("qcow2 image uses an external data file")
	// ErrCorrupt means qemu marked the image corrupt (incompatible bit 1).
	ErrCorrupt = errors.New("qcow2 image is marked corrupt")
	// ErrUnsupportedFeature means an unknown incompatible feature bit is set.
	ErrUnsupportedFeature = errors.New("unsupported qcow2 incompatible feature")
	// ErrUnsupportedCompression means the compression type is unknown.
	ErrUnsupportedCompression = errors.New("unsupported qcow2 compression type")
	// ErrInvalidTable means an L1 or L2 entry is malformed: unaligned,
	// pointing into the header, invalid for the version, or referencing data
	// already referenced elsewhere.
	ErrInvalidTable = errors.New("invalid qcow2 table entry")
	// ErrTruncated means a table or data cluster lies beyond the end of the
	// file, or the file ended while it was read.
	ErrTruncated = errors.New("qcow2 image file is truncated")
	// ErrCompressedCluster means a compressed cluster does not decompress to
	// exactly one cluster.
	ErrCompressedCluster = errors.New("bad qcow2 compressed cluster")
)

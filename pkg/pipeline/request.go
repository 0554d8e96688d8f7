package pipeline

import (
	"fmt"

	"github.com/cdi-functions/cdi-functions/pkg/checksum"
	"github.com/cdi-functions/cdi-functions/pkg/image"
	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/source"
)

// ContentType says what the imported bytes are.
type ContentType string

// The content types of cdi.kubevirt.io/storage.contentType.
const (
	// KubeVirt content is one disk image, written as disk.img (or raw to a
	// block device).
	KubeVirt ContentType = "kubevirt"
	// Archive content is a tar archive extracted into the target directory.
	Archive ContentType = "archive"
)

// ParseContentType accepts "kubevirt" (also "") and "archive".
func ParseContentType(s string) (ContentType, error) {
	switch ContentType(s) {
	case "", KubeVirt:
		return KubeVirt, nil
	case Archive:
		return Archive, nil
	}
	return "", fmt.Errorf("content type %q: want %q or %q", s, KubeVirt, Archive)
}

// MaxDepth bounds how many layers (compression, tar) may wrap an image.
const MaxDepth = 4

// Request describes one import.
type Request struct {
	// Source is where the image comes from.
	Source source.Source
	// Target is a directory (disk.img is written in it, or the archive is
	// extracted into it) or a block device.
	Target string
	// ContentType is KubeVirt (default) or Archive.
	ContentType ContentType
	// Size is the capacity of the target in bytes; 0 means the free space
	// of the target's file system. A disk image smaller than Size is grown
	// sparsely to Size.
	Size int64
	// Scratch is a directory where a qcow2 image that cannot be read in
	// place is spooled; "" means no scratch space.
	Scratch string
	// Checksum, when set, is the expected digest of the source bytes.
	Checksum *checksum.Spec
	// Progress receives progress updates; nil discards them.
	Progress progress.Reporter
}

// Result describes a finished import.
type Result struct {
	// Layers are the formats found, outermost first (e.g. xz, qcow2).
	Layers []image.Format
	// Path is the disk image written, or the directory extracted into.
	Path string
	// Size is the size of the disk image (its virtual size); for an archive
	// the total size of the extracted files.
	Size int64
	// Written is the number of bytes actually stored (holes excluded).
	Written int64
	// SourceBytes is the number of source bytes read.
	SourceBytes int64
	// ScratchBytes is the number of bytes stored in scratch space to spool
	// an image (holes excluded); 0 when nothing was spooled.
	ScratchBytes int64
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/cdi-functions/cdi-functions/pkg/image"
	"github.com/cdi-functions/cdi-functions/pkg/image/qcow2"
	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/source"
	"github.com/cdi-functions/cdi-functions/pkg/target"
)

// ErrNeedScratch reports a qcow2 image that can be read neither in place
// (no range requests) nor from scratch space (none given).
var ErrNeedScratch = errors.New("qcow2 needs random access")

// qcow2InPlace converts a qcow2 image read straight from a range-capable
// source: range requests for the header and tables, then one sequential
// stream for the data. With a checksum the whole file is streamed once so
// that every byte is hashed.
func (r *run) qcow2InPlace(ctx context.Context) (sink, error) {
	src := r.req.Source
	opts := qcow2.ConvertOptions{Progress: r.progressFunc(progress.PhaseConverting, src.Size())}
	if r.verifier != nil {
		opts.Whole = true
		opts.Tee = r.verifier
	}
	return r.convert(ctx, src, src.Size(), opts)
}

// Room the spool of a qcow2 image may take beyond its virtual size: its
// metadata. L2 and refcount tables take at most 1/32 of the virtual size
// (512-byte clusters, 64-bit refcounts); spoolSlack covers the header, its
// extensions, the L1 table and the tables of internal snapshots.
const (
	spoolMetadataShare = 16 // 1/16 of the virtual size
	spoolSlack         = 64 << 20
)

// spoolLimit is the most a spooled qcow2 file of the given virtual size
// may take, holes included, for a target of capacity bytes (0: unknown):
// the larger of the two, and room for metadata.
func spoolLimit(virtual, capacity int64) int64 {
	size := max(virtual, capacity)
	extra := virtual/spoolMetadataShare + spoolSlack
	if size > math.MaxInt64-extra {
		return math.MaxInt64
	}
	return size + extra
}

// qcow2Spooled copies a qcow2 image that arrives as a stream (a server
// without range support, or inside a compression layer or tar) to scratch
// space and converts it from there. head is the start of the stream.
//
// The header is checked before anything is spooled, so an image that would
// be refused (a backing file, encryption, a virtual size larger than the
// target) costs no scratch space. The spool is sparse (runs of zeros are
// holes, not written) and bounded by spoolLimit: a small compressed stream
// cannot fill the scratch space with zeros or junk.
func (r *run) qcow2Spooled(ctx context.Context, rd io.Reader, head []byte) (sink, error) {
	if r.req.Scratch == "" {
		return nil, fmt.Errorf("%w: %s cannot be read in place (the source serves no ranges or the image is wrapped); give scratch space (--scratch) to spool it",
			ErrNeedScratch, describe(r.result.Layers))
	}
	fileSize := int64(-1)
	if len(head) < image.HeadSize {
		fileSize = int64(len(head)) // the stream ends within the head
	}
	hdr, err := qcow2.ParseHeader(head, fileSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describe(r.result.Layers), err)
	}
	if r.req.Size > 0 && hdr.VirtualSize > r.req.Size {
		return nil, fmt.Errorf("%s is larger than the target: %w: its virtual size is %d bytes but the target holds %d",
			describe(r.result.Layers), target.ErrCapacity, hdr.VirtualSize, r.req.Size)
	}
	limit := spoolLimit(hdr.VirtualSize, r.req.Size)
	spool, err := target.CreateSpool(r.req.Scratch, limit)
	if err != nil {
		return nil, err
	}
	defer spool.Remove()
	n, err := target.Copy(ctx, spool, rd)
	r.result.ScratchBytes = spool.Written()
	if err == nil {
		err = spool.Finish(n)
	}
	if errors.Is(err, target.ErrCapacity) {
		return nil, fmt.Errorf("spool %s to scratch space %s: the file is larger than a qcow2 image of %d bytes needs (%d bytes with room for metadata), or the scratch space is full: %w",
			describe(r.result.Layers), r.req.Scratch, hdr.VirtualSize, limit, err)
	}
	if err != nil {
		return nil, fmt.Errorf("spool %s to scratch space %s: %w", describe(r.result.Layers), r.req.Scratch, err)
	}
	src, err := source.New(ctx, spool.Path(), source.Options{})
	if err != nil {
		return nil, fmt.Errorf("open spooled image: %w", err)
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	return r.convert(ctx, src, n, qcow2.ConvertOptions{Progress: r.progressFunc(progress.PhaseConverting, n)})
}

// convert writes the qcow2 image read through src to the disk.
func (r *run) convert(ctx context.Context, src qcow2.Opener, size int64, opts qcow2.ConvertOptions) (sink, error) {
	img, err := qcow2.Open(ctx, src, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describe(r.result.Layers), err)
	}
	d, err := r.openDisk()
	if err != nil {
		return nil, err
	}
	if err := d.Reserve(img.VirtualSize()); err != nil {
		d.Abort()
		return nil, fmt.Errorf("%s is larger than the target: %w", describe(r.result.Layers), err)
	}
	if err := img.Convert(ctx, d, opts); err != nil {
		d.Abort()
		return nil, fmt.Errorf("convert %s: %w", describe(r.result.Layers), err)
	}
	if r.result.SourceBytes == 0 {
		r.result.SourceBytes = size
	}
	r.finishDisk(d, img.VirtualSize())
	return disk{d}, nil
}

// progressFunc adapts the reporter to a callback of bytes done.
func (r *run) progressFunc(phase progress.Phase, total int64) func(int64) {
	return func(done int64) {
		r.req.Progress.Report(progress.Update{Phase: phase, Done: done, Total: total})
	}
}

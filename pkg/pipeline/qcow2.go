package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

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

// qcow2Spooled copies a qcow2 image that arrives as a stream (a server
// without range support, or inside a compression layer or tar) to scratch
// space and converts it from there.
func (r *run) qcow2Spooled(ctx context.Context, rd io.Reader) (sink, error) {
	if r.req.Scratch == "" {
		return nil, fmt.Errorf("%w: %s cannot be read in place (the source serves no ranges or the image is wrapped); give scratch space (--scratch) to spool it",
			ErrNeedScratch, describe(r.result.Layers))
	}
	f, err := os.CreateTemp(r.req.Scratch, "spool-*.qcow2")
	if err != nil {
		return nil, fmt.Errorf("scratch space: %w", err)
	}
	defer os.Remove(f.Name())
	n, err := target.Copy(ctx, f, rd)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("spool %s to scratch space %s: %w", describe(r.result.Layers), r.req.Scratch, err)
	}
	spool, err := source.New(ctx, f.Name(), source.Options{})
	if err != nil {
		return nil, fmt.Errorf("open spooled image: %w", err)
	}
	return r.convert(ctx, spool, n, qcow2.ConvertOptions{Progress: r.progressFunc(progress.PhaseConverting, n)})
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

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cdi-functions/cdi-functions/pkg/target"
)

// openDisk opens the kubevirt target.
func (r *run) openDisk() (*target.Disk, error) {
	return target.OpenDisk(r.req.Target, target.DiskOptions{Size: r.req.Size, Grow: r.req.Size > 0})
}

// raw copies a raw (or ISO) image to the disk, sparsely, in one pass.
func (r *run) raw(ctx context.Context, rd io.Reader) (sink, error) {
	d, err := r.openDisk()
	if err != nil {
		return nil, err
	}
	n, err := target.Copy(ctx, d, rd)
	if err != nil {
		d.Abort()
		if errors.Is(err, target.ErrCapacity) {
			return nil, fmt.Errorf("%s is larger than the target: %w", describe(r.result.Layers), err)
		}
		return nil, fmt.Errorf("copy %s: %w", describe(r.result.Layers), err)
	}
	if n == 0 {
		d.Abort()
		return nil, fmt.Errorf("%s is empty: no disk image to import", describe(r.result.Layers))
	}
	// qemu sees a raw image as whole 512-byte sectors, the last one padded
	// with zeros: qemu-img convert -O raw of a 1000-byte file writes 1024
	// bytes. So does the importer.
	size := (n + sectorSize - 1) / sectorSize * sectorSize
	if err := d.Reserve(size); err != nil {
		d.Abort()
		return nil, fmt.Errorf("%s is larger than the target: %w", describe(r.result.Layers), err)
	}
	r.finishDisk(d, size)
	return disk{d}, nil
}

// sectorSize is the unit of a raw image's size, as qemu sees it.
const sectorSize = 512

// finishDisk records the result of writing an image of size bytes to d.
func (r *run) finishDisk(d *target.Disk, size int64) {
	r.result.Path = d.Path()
	r.result.Size = max(size, r.req.Size)
	r.result.Written = d.Written()
}

type disk struct{ d *target.Disk }

func (d disk) commit() error { return d.d.Commit() }
func (d disk) abort()        { d.d.Abort() }

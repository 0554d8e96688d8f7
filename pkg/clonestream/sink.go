package clonestream

import (
	"context"
	"fmt"
	"os"

	"github.com/cdi-functions/cdi-functions/pkg/target"
)

// sink is where a target puts the content it receives.
type sink interface {
	// entry starts a tree entry.
	entry(e Entry) error
	// data writes content bytes at off (of the image or the current file).
	data(off int64, p []byte) error
	// hole records n bytes of zeros at off.
	hole(off, n int64) error
	// commit publishes what was received; it returns where.
	commit() (string, error)
	// abort discards it.
	abort()
	// written is the number of bytes stored (zero blocks excluded).
	written() int64
}

// openSink prepares the target at path for the stream hdr opens: a
// directory takes an image as disk.img and a tree as its entries; a block
// device takes an image. capacity bounds what may be written (0: the
// device, or the file system's free space).
func openSink(ctx context.Context, path string, capacity int64, hdr Header) (sink, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("clone target %s: %w", path, err)
	}
	if hdr.Kind == KindTree {
		if !fi.IsDir() {
			return nil, fmt.Errorf("%w: a %s cannot be written to the block device %s", ErrRefused, hdr.Kind, path)
		}
		return openTreeSink(ctx, path, capacity, hdr)
	}
	d, err := target.OpenDisk(path, target.DiskOptions{Size: capacity, Grow: capacity > 0 && fi.IsDir()})
	if err != nil {
		return nil, err
	}
	if err := d.Reserve(hdr.Size); err != nil {
		d.Abort()
		return nil, err
	}
	return imageSink{d}, nil
}

// imageSink writes an image with a target.Disk: sparse (zero blocks and
// holes are never written), published by Commit's fsync and rename.
type imageSink struct{ d *target.Disk }

func (s imageSink) entry(e Entry) error { return protocolError("an entry %q in an image", e.Path) }

func (s imageSink) data(off int64, p []byte) error {
	_, err := s.d.WriteAt(p, off)
	return err
}

// hole writes nothing: a new file is a hole, and a device is zeroed when
// it is opened.
func (s imageSink) hole(int64, int64) error { return nil }

func (s imageSink) commit() (string, error) { return s.d.Path(), s.d.Commit() }

func (s imageSink) abort() { s.d.Abort() }

func (s imageSink) written() int64 { return s.d.Written() }

package target

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// DiskName is the file name of the raw disk image inside a target directory,
// the name KubeVirt looks for.
const DiskName = "disk.img"

// KubeVirt's qemu runs as this user and group (107, "qemu" in its
// images); a finished disk.img is given to them when the data mover runs as
// root, with mode 0660, as CDI does.
const (
	QemuUID  = 107
	QemuGID  = 107
	DiskMode = 0o660
)

// blockSize is the granularity of hole detection: runs of zero bytes that
// cover whole aligned blocks of this size are not written.
const blockSize = 4096

// DiskOptions tune a Disk.
type DiskOptions struct {
	// Size is the capacity the image may use, in bytes (0: no limit beyond
	// the free space of the file system). A file image shorter than Size is
	// grown sparsely to Size on Commit when Grow is set.
	Size int64
	// Grow extends the image file to Size on Commit.
	Grow bool
}

// Disk is a raw disk image being written: either a file in a directory,
// created under a temporary name and renamed to disk.img by Commit, or a
// block device written in place.
//
// WriteAt is safe for concurrent use on disjoint ranges. Zero blocks are
// skipped (a file target starts as a hole; a block device is zeroed first),
// so the result is sparse without a second pass.
type Disk struct {
	f     *os.File
	path  string // final path of the image ("" for a block device)
	temp  string // temporary path of the image ("" for a block device)
	block bool

	// limit is the largest offset+length a write may reach.
	limit int64
	// alloc is the most bytes that may be allocated (free space at start);
	// <0 means no check.
	alloc int64
	opts  DiskOptions
	// holder names the target in capacity errors ("" for "the target").
	holder string

	end     atomic.Int64 // highest offset written (or declared by Extend)
	written atomic.Int64 // bytes actually written (non-zero blocks)
	closed  bool
}

// OpenDisk prepares the target at path: a directory (the image is written
// to path/disk.img) or a block device (written raw).
func OpenDisk(path string, opts DiskOptions) (*Disk, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", path, err)
	}
	switch {
	case fi.IsDir():
		return openFileDisk(path, opts)
	case fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0:
		return openBlockDisk(path, opts)
	default:
		return nil, fmt.Errorf("target %s: must be a directory or a block device", path)
	}
}

func openFileDisk(dir string, opts DiskOptions) (*Disk, error) {
	if err := RemoveLeftovers(dir); err != nil {
		return nil, err
	}
	free, err := freeSpace(dir)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, partialPattern)
	if err != nil {
		return nil, fmt.Errorf("target %s: create image: %w", dir, err)
	}
	limit := int64(1<<63 - 1)
	if opts.Size > 0 {
		limit = opts.Size
	}
	return &Disk{
		f: f, path: filepath.Join(dir, DiskName), temp: f.Name(),
		limit: limit, alloc: free, opts: opts,
	}, nil
}

func openBlockDisk(path string, opts DiskOptions) (*Disk, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("target %s: open block device: %w", path, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("target %s: device size: %w", path, err)
	}
	limit := size
	if opts.Size > 0 && opts.Size < size {
		limit = opts.Size
	}
	// Zero the device first so that skipped zero blocks and holes of the
	// image read back as zeros. On thin or discard-capable devices this is
	// cheap; otherwise the kernel writes zeros.
	if err := zeroRange(f, 0, size); err != nil {
		f.Close()
		return nil, fmt.Errorf("target %s: zero device: %w", path, err)
	}
	return &Disk{f: f, block: true, limit: limit, alloc: -1, opts: opts}, nil
}

// zeroRange zeroes [off, off+n) of f, preferring fallocate.
func zeroRange(f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	fd := int(f.Fd())
	if err := unix.Fallocate(fd, unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, n); err == nil {
		return nil
	}
	if err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n); err == nil {
		return nil
	}
	zero := make([]byte, 1<<20)
	for n > 0 {
		c := min(n, int64(len(zero)))
		if _, err := f.WriteAt(zero[:c], off); err != nil {
			return err
		}
		off += c
		n -= c
	}
	return nil
}

// Capacity is the largest image size the target accepts.
func (d *Disk) Capacity() int64 { return d.limit }

// Written is the number of bytes actually written (zero blocks excluded).
func (d *Disk) Written() int64 { return d.written.Load() }

// Reserve declares that the image will be size bytes long. It fails early,
// before any data is written, when size exceeds the capacity.
func (d *Disk) Reserve(size int64) error {
	if size > d.limit {
		return capacityError("virtual size", size, d.limit, d.holder)
	}
	d.bumpEnd(size)
	return nil
}

func (d *Disk) bumpEnd(end int64) {
	for {
		cur := d.end.Load()
		if end <= cur || d.end.CompareAndSwap(cur, end) {
			return
		}
	}
}

// WriteAt writes p at off, skipping aligned blocks of zeros.
func (d *Disk) WriteAt(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	if off < 0 || end > d.limit {
		return 0, capacityError("data up to offset", end, d.limit, d.holder)
	}
	n := len(p)
	wrote := int64(0)
	for len(p) > 0 {
		// Skip the leading zero blocks.
		z := zeroPrefix(p, off)
		p, off = p[z:], off+int64(z)
		if len(p) == 0 {
			break
		}
		// Write up to the next zero block.
		w := dataPrefix(p, off)
		if d.alloc >= 0 && d.written.Load()+wrote+int64(w) > d.alloc {
			return 0, capacityError("allocated data", d.written.Load()+wrote+int64(w), d.alloc, d.holder)
		}
		if _, err := d.f.WriteAt(p[:w], off); err != nil {
			return 0, fmt.Errorf("write image at %d: %w", off, err)
		}
		wrote += int64(w)
		p, off = p[w:], off+int64(w)
	}
	if total := d.written.Add(wrote); wrote > 0 && total/writebackEvery != (total-wrote)/writebackEvery {
		d.startWriteback()
	}
	d.bumpEnd(end)
	return n, nil
}

// writebackEvery is how many written bytes pass between two requests to
// start write-back, so that the flush at Commit finds little left to do
// instead of the whole image.
const writebackEvery = 64 << 20

// startWriteback asks the kernel to start writing the file's dirty pages
// without waiting for them (sync_file_range SYNC_FILE_RANGE_WRITE). It is a
// hint: errors are ignored here and surface at Commit's fsync.
func (d *Disk) startWriteback() {
	_ = unix.SyncFileRange(int(d.f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}

// zeroPrefix returns how many leading bytes of p, which starts at file offset
// off, form whole zero blocks (or a zero tail shorter than a block that ends p).
func zeroPrefix(p []byte, off int64) int {
	i := 0
	for i < len(p) {
		next := min(len(p), i+int(blockSize-(off+int64(i))%blockSize))
		if !isZero(p[i:next]) {
			break
		}
		i = next
	}
	return i
}

// dataPrefix returns how many leading bytes of p to write: up to the first
// block that is all zeros.
func dataPrefix(p []byte, off int64) int {
	i := min(len(p), int(blockSize-off%blockSize))
	for i < len(p) {
		next := min(len(p), i+blockSize)
		if isZero(p[i:next]) {
			break
		}
		i = next
	}
	return i
}

var zeroBlock [blockSize]byte

func isZero(b []byte) bool {
	for len(b) > 0 {
		c := min(len(b), blockSize)
		if !bytes.Equal(b[:c], zeroBlock[:c]) {
			return false
		}
		b = b[c:]
	}
	return true
}

// Commit finishes the image: sets its final size (the larger of what was
// written or reserved, grown to DiskOptions.Size when Grow is set), flushes
// it to stable storage and, for a file, renames it to disk.img.
func (d *Disk) Commit() error {
	if d.closed {
		return errors.New("commit: disk already closed")
	}
	d.closed = true
	if d.block {
		if err := d.f.Sync(); err != nil {
			d.f.Close()
			return fmt.Errorf("sync device: %w", err)
		}
		return d.f.Close()
	}
	size := d.end.Load()
	if d.opts.Grow && d.opts.Size > size {
		size = d.opts.Size
	}
	err := d.f.Truncate(size)
	if err == nil {
		err = d.f.Chmod(DiskMode)
	}
	if err == nil && os.Geteuid() == 0 {
		err = d.f.Chown(QemuUID, QemuGID)
	}
	if err == nil {
		err = d.f.Sync()
	}
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(d.temp, d.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(d.path))
	}
	if err != nil {
		os.Remove(d.temp)
		return fmt.Errorf("finish %s: %w", d.path, err)
	}
	return nil
}

// Abort discards an unfinished image. It is safe to call after Commit (it
// does nothing then).
func (d *Disk) Abort() {
	if d.closed {
		return
	}
	d.closed = true
	d.f.Close()
	if !d.block {
		os.Remove(d.temp)
	}
}

// Path is where the finished image is (or will be) found.
func (d *Disk) Path() string {
	if d.block {
		return d.f.Name()
	}
	return d.path
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !strings.Contains(err.Error(), "invalid argument") {
		return err
	}
	return nil
}

package qcow2

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Opener opens a sequential reader of length bytes of the image file from
// off (length < 0: to the end). It is satisfied by pkg/source.Source. Open
// may be called concurrently.
type Opener interface {
	Open(ctx context.Context, off, length int64) (io.ReadCloser, error)
}

// Image is an opened qcow2 image whose header and tables have been read and
// validated. An Image is immutable: Convert may be called more than once.
type Image struct {
	src  Opener
	size int64 // file size
	h    *header
	tune tuning

	// l2 holds the masked L2 table offset of every L1 entry covering the
	// virtual size (0: unallocated).
	l2 []uint64
	// tables lists the L2 tables that reference data, for window rescans.
	tables []tableRef
	// first is the plan of the first window, built while Open scanned the
	// tables; it is the whole plan when first.cut < 0.
	first *window
	// compressed reports whether any cluster is compressed.
	compressed bool
}

// tableRef is an L2 table that references data.
type tableRef struct {
	l1Index uint32
	// maxHostMiB is the largest host offset of its extents, in MiB.
	maxHostMiB uint32
}

// tuning holds the sizes that shape the I/O; tests shrink them.
type tuning struct {
	budget      int   // most extents held in one window plan
	metaWorkers int   // parallel L2 table streams
	metaGap     int64 // read through gaps up to this size between L2 tables
	metaRunMax  int64 // longest stream of L2 tables
	chunkSize   int   // data stream read size
	readAhead   int   // data chunks read ahead of the consumer
	maxGap      int64 // read through gaps up to this size in the data stream
	maxExtent   int64 // longest coalesced uncompressed extent
	workerMem   int64 // memory all decompression workers may use
}

// defaultTuning returns the sizes used by Open.
func defaultTuning() tuning {
	return tuning{
		budget:      1 << 20,
		metaWorkers: 4,
		metaGap:     1 << 20,
		metaRunMax:  32 << 20,
		chunkSize:   1 << 20,
		readAhead:   8,
		maxGap:      8 << 20,
		maxExtent:   4 << 20,
		workerMem:   64 << 20,
	}
}

// l1OffsetMask selects the L2 table offset of an L1 entry, and the cluster
// offset of a standard L2 entry (bits 9-55).
const l1OffsetMask = 0x00fffffffffffe00

// Open reads and validates the header and the L1/L2 tables through src, an
// image file of size bytes.
func Open(ctx context.Context, src Opener, size int64) (*Image, error) {
	return open(ctx, src, size, defaultTuning())
}

func open(ctx context.Context, src Opener, size int64, tune tuning) (*Image, error) {
	if size < 0 {
		return nil, errors.New("qcow2: the image file size must be known")
	}
	head, err := readAt(ctx, src, 0, min(size, headerReadSize))
	if err != nil {
		return nil, fmt.Errorf("read qcow2 header: %w", err)
	}
	h, err := parseHeader(head, size)
	if err != nil {
		return nil, err
	}
	img := &Image{src: src, size: size, h: h, tune: tune}
	if err := img.readL1(ctx); err != nil {
		return nil, err
	}
	if err := img.scanAll(ctx); err != nil {
		return nil, err
	}
	return img, nil
}

// VirtualSize returns the size of the guest disk in bytes, which is the
// size of the raw output.
func (img *Image) VirtualSize() int64 { return img.h.virtualSize }

// Version returns the qcow2 version: 2 (compat 0.10) or 3 (compat 1.1).
func (img *Image) Version() int { return int(img.h.version) }

// ClusterSize returns the cluster size in bytes.
func (img *Image) ClusterSize() int64 { return img.h.clusterSize }

// CompressionType returns the algorithm used by compressed clusters.
func (img *Image) CompressionType() CompressionType { return img.h.compression }

// HasCompressedClusters reports whether any cluster is compressed.
func (img *Image) HasCompressedClusters() bool { return img.compressed }

// ExtendedL2 reports whether the image uses extended L2 entries
// (subclusters).
func (img *Image) ExtendedL2() bool { return img.h.extendedL2 }

// Dirty reports whether the dirty bit is set (refcounts may be stale; the
// guest data is still readable).
func (img *Image) Dirty() bool { return img.h.incompatible&incompatDirty != 0 }

// readAt reads n bytes at off through one stream.
func readAt(ctx context.Context, src Opener, off, n int64) ([]byte, error) {
	rc, err := src.Open(ctx, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: stream ended before %d bytes at %d", ErrTruncated, n, off)
		}
		return nil, err
	}
	return b, nil
}

// readL1 reads the entries of the active L1 table that cover the virtual
// size and validates them.
func (img *Image) readL1(ctx context.Context) error {
	n := img.h.l1Needed
	if n == 0 {
		return nil
	}
	off := int64(img.h.l1Offset)
	rc, err := img.src.Open(ctx, off, n*8)
	if err != nil {
		return fmt.Errorf("read L1 table at %d: %w", off, err)
	}
	defer rc.Close()
	img.l2 = make([]uint64, n)
	buf := make([]byte, 64<<10)
	for i := int64(0); i < n; {
		k := min(int64(len(buf))/8, n-i)
		if _, err := io.ReadFull(rc, buf[:k*8]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				err = ErrTruncated
			}
			return fmt.Errorf("read L1 table at %d: %w", off, err)
		}
		for j := int64(0); j < k; j++ {
			img.l2[i+j] = binary.BigEndian.Uint64(buf[j*8:]) & l1OffsetMask
		}
		i += k
	}
	cs := uint64(img.h.clusterSize)
	for i, o := range img.l2 {
		switch {
		case o == 0:
		case o&(cs-1) != 0:
			return fmt.Errorf("%w: L1 entry %d: L2 table offset %#x is not cluster aligned", ErrInvalidTable, i, o)
		case o > uint64(img.size) || uint64(img.size)-o < cs:
			return fmt.Errorf("%w: L1 entry %d: L2 table at %#x ends beyond the end of the file (%d bytes)", ErrTruncated, i, o, img.size)
		}
	}
	return nil
}

// allocatedTables returns the L1 indexes of the allocated L2 tables, and
// refuses tables referenced twice.
func (img *Image) allocatedTables() ([]uint32, error) {
	var idx []uint32
	for i, o := range img.l2 {
		if o != 0 {
			idx = append(idx, uint32(i))
		}
	}
	sorted := slices.Clone(idx)
	slices.SortFunc(sorted, func(a, b uint32) int { return cmp.Compare(img.l2[a], img.l2[b]) })
	for i := 1; i < len(sorted); i++ {
		if img.l2[sorted[i]] == img.l2[sorted[i-1]] {
			return nil, fmt.Errorf("%w: L1 entries %d and %d reference the same L2 table at %#x", ErrInvalidTable, sorted[i-1], sorted[i], img.l2[sorted[i]])
		}
	}
	return idx, nil
}

// scanAll reads every L2 table once: it validates the entries, records
// which tables reference data, and plans the first window.
func (img *Image) scanAll(ctx context.Context) error {
	idx, err := img.allocatedTables()
	if err != nil {
		return err
	}
	var mu sync.Mutex
	maxHost := make([]int64, len(idx))
	for i := range maxHost {
		maxHost[i] = -1
	}
	c := newCollector(0, img.tune.budget)
	err = img.scan(ctx, idx, func(i int, ext []extent) {
		mu.Lock()
		defer mu.Unlock()
		c.add(ext)
		for _, e := range ext {
			maxHost[i] = max(maxHost[i], e.host)
			if e.compressed {
				img.compressed = true
			}
		}
	})
	if err != nil {
		return err
	}
	for i, m := range maxHost {
		if m >= 0 {
			img.tables = append(img.tables, tableRef{l1Index: idx[i], maxHostMiB: uint32(m >> 20)})
		}
	}
	img.first, err = c.finish(img.tune.maxExtent)
	return err
}

// planWindow plans the window of extents whose host offset is at least lo,
// rescanning the tables that may point there.
func (img *Image) planWindow(ctx context.Context, lo int64, tables []tableRef) (*window, error) {
	idx := make([]uint32, 0, len(tables))
	for _, t := range tables {
		idx = append(idx, t.l1Index)
	}
	var mu sync.Mutex
	c := newCollector(lo, img.tune.budget)
	err := img.scan(ctx, idx, func(_ int, ext []extent) {
		mu.Lock()
		defer mu.Unlock()
		c.add(ext)
	})
	if err != nil {
		return nil, err
	}
	return c.finish(img.tune.maxExtent)
}

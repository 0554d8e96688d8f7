package qcow2

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"sync"
)

// L2 entry flags.
const (
	l2Compressed = 1 << 62
	l2Zero       = 1 << 0
	// subclusters is the number of subclusters of an extended L2 entry.
	subclusters = 32
	// sinkBatch is how many extents a table decoder hands over at once.
	sinkBatch = 16 << 10
)

// sinkFunc receives the extents decoded from the i-th table of a scan. It
// may be called concurrently and several times per table; ext is reused
// after it returns.
type sinkFunc func(i int, ext []extent)

// tableRun is a group of L2 tables read through one stream.
type tableRun struct {
	off, n int64
	tabs   []tablePos
}

// tablePos is an L2 table of a scan: its file offset and its position in
// the scan's list.
type tablePos struct {
	off int64
	i   int
}

// scan reads the L2 tables of the L1 entries idx, in file order with
// several streams in parallel, and passes their extents to sink.
func (img *Image) scan(ctx context.Context, idx []uint32, sink sinkFunc) error {
	if len(idx) == 0 {
		return nil
	}
	cs := img.h.clusterSize
	tabs := make([]tablePos, len(idx))
	for i, l1 := range idx {
		tabs[i] = tablePos{off: int64(img.l2[l1]), i: i}
	}
	slices.SortFunc(tabs, func(a, b tablePos) int { return cmp.Compare(a.off, b.off) })
	var runs []tableRun
	for _, t := range tabs {
		if k := len(runs) - 1; k >= 0 {
			r := &runs[k]
			if end := r.off + r.n; t.off-end <= img.tune.metaGap && t.off+cs-r.off <= img.tune.metaRunMax {
				r.n = t.off + cs - r.off
				r.tabs = append(r.tabs, t)
				continue
			}
		}
		runs = append(runs, tableRun{off: t.off, n: cs, tabs: []tablePos{t}})
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ch := make(chan tableRun)
	var wg sync.WaitGroup
	for range min(img.tune.metaWorkers, len(runs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, cs)
			var scratch []extent
			for r := range ch {
				if ctx.Err() != nil {
					continue
				}
				if err := img.scanRun(ctx, r, idx, buf, &scratch, sink); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, r := range runs {
		select {
		case ch <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// scanRun reads the tables of one run through one stream.
func (img *Image) scanRun(ctx context.Context, r tableRun, idx []uint32, buf []byte, scratch *[]extent, sink sinkFunc) error {
	rc, err := img.src.Open(ctx, r.off, r.n)
	if err != nil {
		return fmt.Errorf("read L2 tables at %d (+%d): %w", r.off, r.n, err)
	}
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer func() {
		if stop() {
			rc.Close()
		}
	}()
	pos := r.off
	for _, t := range r.tabs {
		if t.off > pos {
			if _, err := io.CopyN(io.Discard, rc, t.off-pos); err != nil {
				return img.tableReadError(ctx, t.off, err)
			}
		}
		if _, err := io.ReadFull(rc, buf); err != nil {
			return img.tableReadError(ctx, t.off, err)
		}
		pos = t.off + int64(len(buf))
		ext, err := img.decodeTable(int64(idx[t.i]), buf, (*scratch)[:0], func(ext []extent) { sink(t.i, ext) })
		*scratch = ext
		if err != nil {
			return err
		}
		if len(ext) > 0 {
			sink(t.i, ext)
		}
	}
	return nil
}

func (img *Image) tableReadError(ctx context.Context, off int64, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = ErrTruncated
	}
	return fmt.Errorf("read L2 table at %d: %w", off, err)
}

// decodeTable decodes the L2 table of L1 entry l1Index into extents
// appended to out. When out holds sinkBatch extents they are passed to
// flush and out starts again. It validates every entry that covers the
// virtual size; entries beyond it are ignored, as qemu never reads them.
func (img *Image) decodeTable(l1Index int64, tab []byte, out []extent, flush func([]extent)) ([]extent, error) {
	h := img.h
	cs := h.clusterSize
	vsize := h.virtualSize
	base := l1Index * h.l2Entries * cs
	n := min(h.l2Entries, (vsize-base+cs-1)/cs)
	be := binary.BigEndian

	data := func(host, guest, size int64) error {
		if host > img.size || img.size-host < size {
			return fmt.Errorf("%w: data for guest offset %#x at %#x (+%d) ends beyond the end of the file (%d bytes)", ErrTruncated, guest, host, size, img.size)
		}
		if k := len(out) - 1; k >= 0 {
			p := &out[k]
			if !p.compressed && p.host+int64(p.n) == host && p.guest+int64(p.n) == guest && int64(p.n)+size <= img.tune.maxExtent {
				p.n += uint32(size)
				return nil
			}
		}
		if len(out) >= sinkBatch {
			flush(out)
			out = out[:0]
		}
		out = append(out, extent{host: host, guest: guest, n: uint32(size)})
		return nil
	}

	for i := int64(0); i < n; i++ {
		guest := base + i*cs
		limit := min(cs, vsize-guest)
		var e, bitmap uint64
		if h.extendedL2 {
			e, bitmap = be.Uint64(tab[i*16:]), be.Uint64(tab[i*16+8:])
		} else {
			e = be.Uint64(tab[i*8:])
		}
		where := func() string {
			return fmt.Sprintf("L2 table at %#x, entry %d (guest offset %#x)", img.l2[l1Index], i, guest)
		}
		if e&l2Compressed != 0 {
			cf := h.compressedFields
			host := int64(e & cf.offsetMask)
			size := int64((e>>cf.sizeShift)&cf.sizeMask+1)*512 - host&511
			if host < cs {
				return out, fmt.Errorf("%w: %s: compressed data at %#x overlaps the header", ErrInvalidTable, where(), host)
			}
			if host >= img.size {
				return out, fmt.Errorf("%w: %s: compressed data at %#x is beyond the end of the file (%d bytes)", ErrTruncated, where(), host, img.size)
			}
			if len(out) >= sinkBatch {
				flush(out)
				out = out[:0]
			}
			out = append(out, extent{host: host, guest: guest, n: uint32(min(size, img.size-host)), compressed: true})
			continue
		}
		host := int64(e & l1OffsetMask)
		if host&(cs-1) != 0 {
			return out, fmt.Errorf("%w: %s: cluster offset %#x is not cluster aligned", ErrInvalidTable, where(), host)
		}
		if !h.extendedL2 {
			if e&l2Zero != 0 {
				if h.version < 3 {
					return out, fmt.Errorf("%w: %s: zero cluster in a version 2 image", ErrInvalidTable, where())
				}
				continue
			}
			if host == 0 {
				continue
			}
			if err := data(host, guest, limit); err != nil {
				return out, err
			}
			continue
		}
		alloc, zero := uint32(bitmap), uint32(bitmap>>32)
		if host == 0 {
			if alloc != 0 {
				return out, fmt.Errorf("%w: %s: allocated subclusters %#x without a cluster offset", ErrInvalidTable, where(), alloc)
			}
			continue
		}
		if alloc&zero != 0 {
			return out, fmt.Errorf("%w: %s: subclusters %#x both allocated and zero", ErrInvalidTable, where(), alloc&zero)
		}
		sc := cs / subclusters
		for alloc != 0 {
			j := int64(bits.TrailingZeros32(alloc))
			alloc &= alloc - 1
			g := guest + j*sc
			if g >= vsize {
				break
			}
			if err := data(host+j*sc, g, min(sc, vsize-g)); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

package qcow2

import (
	"cmp"
	"fmt"
	"slices"
)

// extent is guest data stored at a host offset: either n bytes copied as
// they are, or one compressed cluster whose compressed form is n bytes long.
type extent struct {
	host       int64
	guest      int64
	n          uint32
	compressed bool
}

func (e extent) end() int64 { return e.host + int64(e.n) }

// window is the plan for a range of host offsets: extents sorted by host
// offset, coalesced, without overlaps.
type window struct {
	ext []extent
	// cut is where the next window starts, or -1 if this is the last one.
	cut int64
}

// collector gathers the extents at host offsets >= lo, keeping at most
// budget of them: once full it becomes a max-heap on the host offset that
// keeps the budget lowest ones.
type collector struct {
	lo     int64
	budget int
	ext    []extent
	full   bool
}

func newCollector(lo int64, budget int) *collector {
	return &collector{lo: lo, budget: max(budget, 1)}
}

func (c *collector) add(batch []extent) {
	for _, e := range batch {
		if e.host < c.lo {
			continue
		}
		if !c.full {
			c.ext = append(c.ext, e)
			if len(c.ext) > c.budget {
				c.full = true
				for i := len(c.ext)/2 - 1; i >= 0; i-- {
					c.down(i)
				}
				c.popMax()
			}
			continue
		}
		if e.host >= c.ext[0].host {
			continue
		}
		c.ext[0] = e
		c.down(0)
	}
}

func (c *collector) popMax() {
	last := len(c.ext) - 1
	c.ext[0] = c.ext[last]
	c.ext = c.ext[:last]
	c.down(0)
}

// down restores the max-heap property below i.
func (c *collector) down(i int) {
	h := c.ext
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].host > h[l].host {
			m = r
		}
		if h[m].host <= h[i].host {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// finish turns the collected extents into a window. When the collector
// overflowed, the window ends before the largest host offset it kept: every
// extent below that offset is in the heap (evicted ones were never lower).
func (c *collector) finish(maxExtent int64) (*window, error) {
	w := &window{ext: c.ext, cut: -1}
	if c.full {
		w.cut = c.ext[0].host
		w.ext = slices.DeleteFunc(w.ext, func(e extent) bool { return e.host == w.cut })
		if len(w.ext) == 0 {
			return nil, fmt.Errorf("%w: more than %d clusters reference host offset %#x", ErrInvalidTable, c.budget, w.cut)
		}
	}
	slices.SortFunc(w.ext, func(a, b extent) int {
		return cmp.Or(cmp.Compare(a.host, b.host), cmp.Compare(a.guest, b.guest))
	})
	// Coalesce extents adjacent on the host and in the guest (they may come
	// from different L2 tables).
	out := w.ext[:0]
	for _, e := range w.ext {
		if k := len(out) - 1; k >= 0 {
			p := &out[k]
			if !p.compressed && !e.compressed && p.end() == e.host && p.guest+int64(p.n) == e.guest && int64(p.n)+int64(e.n) <= maxExtent {
				p.n += e.n
				continue
			}
		}
		out = append(out, e)
	}
	w.ext = slices.Clip(out)
	// Refuse overlapping data; trim compressed clusters, whose length is
	// rounded up to a sector and may reach into the next one's data.
	for i := range w.ext {
		e := &w.ext[i]
		next := w.cut
		if i+1 < len(w.ext) {
			next = w.ext[i+1].host
		}
		if next < 0 || e.end() <= next {
			continue
		}
		if !e.compressed || next == e.host {
			return nil, fmt.Errorf("%w: data of guest offset %#x at host offset %#x (+%d) overlaps other data at %#x", ErrInvalidTable, e.guest, e.host, e.n, next)
		}
		e.n = uint32(next - e.host)
	}
	return w, nil
}

// span is a range of the image file read through one stream.
type span struct{ off, n int64 }

// spans groups the extents into streams, reading through gaps of at most
// maxGap bytes.
func spans(ext []extent, maxGap int64) []span {
	var out []span
	for _, e := range ext {
		if k := len(out) - 1; k >= 0 && e.host-(out[k].off+out[k].n) <= maxGap {
			out[k].n = e.end() - out[k].off
			continue
		}
		out = append(out, span{off: e.host, n: int64(e.n)})
	}
	return out
}

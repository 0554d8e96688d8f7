package qcow2

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// ConvertOptions tunes Convert.
type ConvertOptions struct {
	// Progress, if set, is called with the number of image-file bytes
	// consumed so far: the offset in the file up to which the data has been
	// read, ranges skipped between extents counting as consumed. It is
	// monotonic, reaches the file size on success, and is called from one
	// goroutine at a time (throttling is the caller's job).
	Progress func(done int64)
	// Whole makes Convert read the image file as one sequential stream from
	// offset 0 to its size and pass every byte, in order, to Tee (used when
	// the caller checksums the source). Without it, only the data is read.
	Whole bool
	// Tee receives the bytes of the data stream(s), in order. With Whole
	// these are all the bytes of the file.
	Tee io.Writer
	// Workers is the parallelism for decompressing compressed clusters
	// (0: GOMAXPROCS). It is lowered if the buffers would exceed a fixed
	// memory budget.
	Workers int
}

// job is a batch of compressed clusters handed to a worker.
type job struct {
	buf   []byte
	items []jobItem
}

// jobItem is one compressed cluster of a job.
type jobItem struct {
	guest, host int64
	off, n      int32 // its bytes in job.buf
}

// Convert writes the guest-visible content of the image into w: only the
// allocated, non-zero data. w must be a zero-filled target of at least
// VirtualSize bytes; unallocated and zero clusters are left untouched, and
// nothing is written at or beyond VirtualSize. w.WriteAt is called
// concurrently for disjoint ranges.
//
// Convert stops promptly when ctx is cancelled and leaves no goroutine
// behind.
func (img *Image) Convert(ctx context.Context, w io.WriterAt, opts ConvertOptions) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup

	s := newStreamer(img.src, img.size, img.tune, opts)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.run(ctx); err != nil {
			cancel(err)
		}
		close(s.chunks)
	}()

	var jobs chan *job
	var freeJobs chan *job
	var jobBuf, jobItems int
	if img.compressed {
		cs := img.h.clusterSize
		// A compressed extent is at most two clusters, and within the file;
		// a worker writes up to 1 MiB at once, within the virtual size.
		jobBuf = int(min(max(256<<10, 2*cs), img.size))
		jobItems = int(max(1, (4<<20)/cs))
		outBuf := max(cs, min(1<<20, (img.h.virtualSize+cs-1)/cs*cs))
		n := opts.Workers
		if n <= 0 {
			n = runtime.GOMAXPROCS(0)
		}
		n = max(1, min(n, int(img.tune.workerMem/(2*int64(jobBuf)+outBuf))))
		jobs = make(chan *job)
		freeJobs = make(chan *job, 2*n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := img.worker(ctx, w, jobs, freeJobs, outBuf); err != nil {
					cancel(err)
				}
			}()
		}
	}

	c := &consumer{
		img: img, w: w, cur: &cursor{chunks: s.chunks, free: s.free},
		jobs: jobs, freeJobs: freeJobs, jobBuf: jobBuf, jobItems: jobItems, jobsMax: cap(freeJobs),
	}
	err := c.run(ctx, s, opts.Whole)
	if err != nil {
		cancel(err)
	}
	if jobs != nil {
		close(jobs)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// consumer walks the plan in host order, writes uncompressed data and
// batches compressed clusters for the workers.
type consumer struct {
	img      *Image
	w        io.WriterAt
	cur      *cursor
	jobs     chan *job
	freeJobs chan *job
	jobBuf   int
	jobItems int
	jobsMax  int
	jobsMade int
	job      *job
}

func (c *consumer) run(ctx context.Context, s *streamer, whole bool) error {
	spansClosed := false
	defer func() {
		if !spansClosed {
			close(s.spans)
		}
	}()
	img := c.img
	if whole && img.size > 0 {
		s.spans <- []span{{off: 0, n: img.size}} // buffered: never blocks
	}
	win := img.first
	tables := img.tables
	for {
		if !whole {
			if sp := spans(win.ext, img.tune.maxGap); len(sp) > 0 {
				select {
				case s.spans <- sp:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}
		}
		for _, e := range win.ext {
			if err := c.extent(ctx, e); err != nil {
				return err
			}
		}
		if win.cut < 0 {
			break
		}
		lo := win.cut
		tables = keepTables(tables, lo)
		var err error
		if win, err = img.planWindow(ctx, lo, tables); err != nil {
			return err
		}
	}
	if err := c.dispatch(ctx); err != nil {
		return err
	}
	close(s.spans)
	spansClosed = true
	return c.cur.drain(ctx)
}

// keepTables drops the tables whose extents all lie below lo.
func keepTables(tables []tableRef, lo int64) []tableRef {
	out := make([]tableRef, 0, len(tables))
	for _, t := range tables {
		if int64(t.maxHostMiB+1)<<20 > lo {
			out = append(out, t)
		}
	}
	return out
}

func (c *consumer) extent(ctx context.Context, e extent) error {
	if !e.compressed {
		return c.cur.each(ctx, e.host, int64(e.n), func(p []byte, at int64) error {
			off := e.guest + at - e.host
			if _, err := c.w.WriteAt(p, off); err != nil {
				return fmt.Errorf("write guest data at %d: %w", off, err)
			}
			return nil
		})
	}
	if c.job != nil && (len(c.job.buf)+int(e.n) > cap(c.job.buf) || len(c.job.items) >= c.jobItems) {
		if err := c.dispatch(ctx); err != nil {
			return err
		}
	}
	if c.job == nil {
		j, err := c.newJob(ctx)
		if err != nil {
			return err
		}
		c.job = j
	}
	j := c.job
	start := len(j.buf)
	if err := c.cur.each(ctx, e.host, int64(e.n), func(p []byte, _ int64) error {
		j.buf = append(j.buf, p...)
		return nil
	}); err != nil {
		return err
	}
	j.items = append(j.items, jobItem{guest: e.guest, host: e.host, off: int32(start), n: int32(e.n)})
	return nil
}

func (c *consumer) newJob(ctx context.Context) (*job, error) {
	select {
	case j := <-c.freeJobs:
		return j, nil
	default:
	}
	if c.jobsMade < c.jobsMax {
		c.jobsMade++
		return &job{buf: make([]byte, 0, c.jobBuf)}, nil
	}
	select {
	case j := <-c.freeJobs:
		return j, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// dispatch hands the pending job to a worker.
func (c *consumer) dispatch(ctx context.Context) error {
	if c.job == nil {
		return nil
	}
	select {
	case c.jobs <- c.job:
		c.job = nil
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// worker decompresses jobs and writes the clusters, coalescing clusters
// that are adjacent in the guest into one write.
func (img *Image) worker(ctx context.Context, w io.WriterAt, jobs <-chan *job, free chan<- *job, outSize int64) error {
	d, err := newDecompressor(img.h.compression)
	if err != nil {
		return err
	}
	defer d.close()
	cs := img.h.clusterSize
	vsize := img.h.virtualSize
	out := make([]byte, outSize+decompressSlack)
	for {
		var j *job
		var ok bool
		select {
		case j, ok = <-jobs:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if !ok {
			return nil
		}
		var start, n int64 // pending write: guest offset and length
		flush := func() error {
			if n == 0 {
				return nil
			}
			if _, err := w.WriteAt(out[:n], start); err != nil {
				return fmt.Errorf("write guest data at %d: %w", start, err)
			}
			n = 0
			return nil
		}
		for _, it := range j.items {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if n > 0 && (it.guest != start+n || n+cs > outSize) {
				if err := flush(); err != nil {
					return err
				}
			}
			if n == 0 {
				start = it.guest
			}
			if err := d.decompress(out[n:n+cs:n+cs+decompressSlack], j.buf[it.off:it.off+it.n]); err != nil {
				return fmt.Errorf("cluster at guest offset %#x, host offset %#x (+%d): %w", it.guest, it.host, it.n, err)
			}
			n += min(cs, vsize-it.guest)
		}
		if err := flush(); err != nil {
			return err
		}
		j.buf, j.items = j.buf[:0], j.items[:0]
		free <- j
	}
}

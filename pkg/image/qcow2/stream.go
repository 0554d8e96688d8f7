package qcow2

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// chunk is a piece of the image file read by the streamer.
type chunk struct {
	off int64
	b   []byte
}

// streamer reads the spans it is given, in order, through one stream per
// span, and hands the bytes to the consumer in chunks. It runs ahead of the
// consumer by a bounded number of chunks.
type streamer struct {
	src      Opener
	size     int64
	spans    chan []span
	chunks   chan chunk
	free     chan []byte
	pool     int // chunk buffers allocated so far
	poolMax  int
	chunk    int
	tee      io.Writer
	progress func(int64)
	reported int64
}

func newStreamer(src Opener, size int64, tune tuning, opts ConvertOptions) *streamer {
	poolMax := tune.readAhead + 2
	return &streamer{
		src:      src,
		size:     size,
		spans:    make(chan []span, 1),
		chunks:   make(chan chunk, tune.readAhead),
		free:     make(chan []byte, poolMax),
		poolMax:  poolMax,
		chunk:    int(max(1, min(int64(tune.chunkSize), size))),
		tee:      opts.Tee,
		progress: opts.Progress,
		reported: -1,
	}
}

// run streams spans until the spans channel is closed. The caller closes
// the chunks channel after run returns.
func (s *streamer) run(ctx context.Context) error {
	for {
		var list []span
		var ok bool
		select {
		case list, ok = <-s.spans:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if !ok {
			break
		}
		for _, sp := range list {
			if err := s.stream(ctx, sp); err != nil {
				return err
			}
		}
	}
	s.report(s.size)
	return nil
}

func (s *streamer) report(done int64) {
	if s.progress != nil && done > s.reported {
		s.reported = done
		s.progress(done)
	}
}

func (s *streamer) buffer(ctx context.Context) ([]byte, error) {
	select {
	case b := <-s.free:
		return b, nil
	default:
	}
	if s.pool < s.poolMax {
		s.pool++
		return make([]byte, s.chunk), nil
	}
	select {
	case b := <-s.free:
		return b, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// stream reads one span.
func (s *streamer) stream(ctx context.Context, sp span) error {
	s.report(sp.off)
	rc, err := s.src.Open(ctx, sp.off, sp.n)
	if err != nil {
		return fmt.Errorf("open image data at %d (+%d): %w", sp.off, sp.n, err)
	}
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer func() {
		if stop() {
			rc.Close()
		}
	}()
	for pos, end := sp.off, sp.off+sp.n; pos < end; {
		b, err := s.buffer(ctx)
		if err != nil {
			return err
		}
		b = b[:min(int64(len(b)), end-pos)]
		if _, err := io.ReadFull(rc, b); err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = ErrTruncated
			}
			return fmt.Errorf("read image data at %d: %w", pos, err)
		}
		if s.tee != nil {
			if _, err := s.tee.Write(b); err != nil {
				return fmt.Errorf("tee image data at %d: %w", pos, err)
			}
		}
		select {
		case s.chunks <- chunk{off: pos, b: b}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		pos += int64(len(b))
		s.report(pos)
	}
	return nil
}

// cursor walks the chunks in order for the consumer.
type cursor struct {
	chunks <-chan chunk
	free   chan<- []byte
	cur    chunk
	ok     bool
}

// errStreamEnded means the streamer stopped before the consumer had its
// data; the streamer's own error, if any, is the real cause.
var errStreamEnded = errors.New("qcow2: data stream ended early")

// advance releases the current chunk and waits for the next one.
func (c *cursor) advance(ctx context.Context) error {
	if c.ok {
		c.free <- c.cur.b[:cap(c.cur.b)]
		c.ok = false
	}
	select {
	case ch, ok := <-c.chunks:
		if !ok {
			return errStreamEnded
		}
		c.cur, c.ok = ch, true
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// each passes the bytes of the image file in [off, off+n) to fn, piece by
// piece, in order. Offsets must not go backwards between calls.
func (c *cursor) each(ctx context.Context, off, n int64, fn func(p []byte, at int64) error) error {
	for n > 0 {
		for !c.ok || c.cur.off+int64(len(c.cur.b)) <= off {
			if err := c.advance(ctx); err != nil {
				return err
			}
		}
		if c.cur.off > off {
			return fmt.Errorf("qcow2: internal error: image data at %d was not streamed", off)
		}
		p := c.cur.b[off-c.cur.off:]
		if int64(len(p)) > n {
			p = p[:n]
		}
		if err := fn(p, off); err != nil {
			return err
		}
		off += int64(len(p))
		n -= int64(len(p))
	}
	return nil
}

// drain consumes the rest of the stream.
func (c *cursor) drain(ctx context.Context) error {
	for {
		if err := c.advance(ctx); err != nil {
			if errors.Is(err, errStreamEnded) {
				return nil
			}
			return err
		}
	}
}

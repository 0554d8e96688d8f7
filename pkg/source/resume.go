package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"
)

// copyBufferSize is the buffer WriteTo reads into: large, so a fast
// transfer costs few calls per byte.
const copyBufferSize = 1 << 20

// errClosed is returned by reads after Close.
var errClosed = errors.New("source reader is closed")

// rangeOpener issues single attempts at byte ranges of one remote object;
// resumingReader strings them together.
type rangeOpener interface {
	// openRange requests bytes [off, end) (end < 0: to the end of the
	// object) and returns the body and how many bytes it should carry (-1
	// if unknown). Failures worth retrying are wrapped with transient.
	openRange(ctx context.Context, off, end int64) (io.ReadCloser, int64, error)
	// resumable returns nil if a transfer can be re-opened mid-object,
	// else why not (ErrNoRanges, ErrNoValidator).
	resumable() error
	// String names the object for messages, without credentials.
	String() string
}

// resumingReader reads [start, end) of a remote object and hides broken,
// short and stalled transfers by re-opening from the last byte received,
// with bounded retries. A stall is detected by a timer that runs only
// while the reader waits on the network (so a slow consumer is not taken
// for a stalled server) and cancels the attempt's context. The time spent
// inside Read is metered too: a transfer slower than the policy's minimum
// rate fails with ErrTooSlow. Everything ends at the download's deadline.
type resumingReader struct {
	ctx     context.Context // the caller's, bounded by the deadline
	stopCtx context.CancelFunc
	src     rangeOpener
	pol     *retryPolicy
	rate    rateMeter

	start, off, end int64 // end is exclusive, -1 means the end of the object

	// The current attempt; body is nil between attempts.
	body   io.ReadCloser
	want   int64 // bytes the body still owes, -1 if unknown
	actx   context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer

	failures int // consecutive failures without progress
	// unmetered is the time the current Read spent reconnecting and
	// backing off: the retries, bounded by their own policy, are not the
	// source being slow.
	unmetered time.Duration
	err       error // sticky: io.EOF, errClosed or the final failure
}

// openResuming opens [off, end) of src, retrying the first attempt like any
// other, so that Open reports a missing object or refused credentials.
func openResuming(ctx context.Context, src rangeOpener, pol *retryPolicy, off, end int64) (*resumingReader, error) {
	ctx, stop := pol.withDeadline(ctx)
	rr := &resumingReader{ctx: ctx, stopCtx: stop, src: src, pol: pol, start: off, off: off, end: end,
		rate: rateMeter{min: pol.minRate, window: pol.rateWindow}}
	started := time.Now()
	err := rr.connect()
	if err == nil {
		err = rr.rate.add(0, time.Since(started))
	}
	if err != nil {
		rr.closeBody()
		stop()
		return nil, err
	}
	return rr, nil
}

// connect opens an attempt at rr.off, retrying transient failures.
func (rr *resumingReader) connect() error {
	for {
		actx, cancel := context.WithCancelCause(rr.ctx)
		timer := time.AfterFunc(rr.pol.stall, func() { cancel(ErrStalled) })
		body, want, err := rr.src.openRange(actx, rr.off, rr.end)
		timer.Stop()
		if err == nil {
			rr.body, rr.want, rr.actx, rr.cancel, rr.timer = body, want, actx, cancel, timer
			return nil
		}
		stalled := errors.Is(context.Cause(actx), ErrStalled)
		cancel(context.Canceled)
		if rr.ctx.Err() != nil {
			return fmt.Errorf("%s: %w", rr.src, context.Cause(rr.ctx))
		}
		if stalled {
			err = transient(fmt.Errorf("%s: no response within %s: %w", rr.src, rr.pol.stall, ErrStalled), 0)
		}
		ok, after := isTransient(err)
		if !ok {
			return err
		}
		if err := rr.backoff(err, after); err != nil {
			return err
		}
	}
}

// backoff counts a failure and waits before the next attempt, or gives up.
func (rr *resumingReader) backoff(cause error, after time.Duration) error {
	rr.failures++
	if rr.failures > rr.pol.maxRetries {
		return fmt.Errorf("giving up after %d failed attempts: %w", rr.failures, cause)
	}
	d := rr.pol.delay(rr.failures, after)
	rr.pol.log.Warn("source transfer failed; retrying",
		zap.String("source", rr.src.String()),
		zap.Int64("offset", rr.off),
		zap.Int("attempt", rr.failures),
		zap.Duration("delay", d),
		zap.Error(cause))
	if err := sleep(rr.ctx, d); err != nil {
		return fmt.Errorf("%s: %w", rr.src, err)
	}
	return nil
}

// Read implements io.Reader.
func (rr *resumingReader) Read(p []byte) (int, error) {
	if rr.err != nil {
		return 0, rr.err
	}
	started := time.Now()
	rr.unmetered = 0
	n, err := rr.read(p)
	if err == nil {
		if rerr := rr.rate.add(n, time.Since(started)-rr.unmetered); rerr != nil {
			return n, rr.finish(fmt.Errorf("%s: at offset %d: %w", rr.src, rr.off, rerr))
		}
	}
	return n, err
}

// read is Read without the rate meter.
func (rr *resumingReader) read(p []byte) (int, error) {
	if rr.end >= 0 {
		left := rr.end - rr.off
		if left <= 0 {
			return 0, rr.finish(io.EOF)
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if rr.body == nil {
			t := time.Now()
			err := rr.connect()
			rr.unmetered += time.Since(t)
			if err != nil {
				return 0, rr.finish(err)
			}
		}
		rr.timer.Reset(rr.pol.stall)
		n, err := rr.body.Read(p)
		rr.timer.Stop()
		if n > 0 {
			rr.off += int64(n)
			if rr.want > 0 {
				rr.want = max(rr.want-int64(n), 0)
			}
			rr.failures = 0
		}
		if err == nil {
			return n, nil
		}
		if err == io.EOF {
			if rr.want <= 0 && (rr.end < 0 || rr.off >= rr.end) {
				return n, rr.finish(io.EOF)
			}
			// A clean end before the promised length: the server (or a
			// proxy) lied about the length or cut the body short.
			err = fmt.Errorf("body ended early: %w", io.ErrUnexpectedEOF)
		}
		if rr.actx != nil && errors.Is(context.Cause(rr.actx), ErrStalled) {
			err = fmt.Errorf("no data for %s: %w", rr.pol.stall, ErrStalled)
		}
		rr.closeBody()
		if rr.ctx.Err() != nil {
			return n, rr.finish(fmt.Errorf("%s: %w", rr.src, context.Cause(rr.ctx)))
		}
		err = fmt.Errorf("%s: transfer broke at offset %d: %w", rr.src, rr.off, err)
		if why := rr.src.resumable(); why != nil && rr.off > rr.start {
			return n, rr.finish(fmt.Errorf("%w: %w", err, why))
		}
		t := time.Now()
		berr := rr.backoff(err, 0)
		rr.unmetered += time.Since(t)
		if berr != nil {
			return n, rr.finish(berr)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// WriteTo implements io.WriterTo with a large buffer, so io.Copy moves
// bulk data in few calls.
func (rr *resumingReader) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, copyBufferSize)
	var total int64
	for {
		n, err := rr.Read(buf)
		if n > 0 {
			nw, werr := w.Write(buf[:n])
			total += int64(nw)
			if werr != nil {
				return total, werr
			}
			if nw != n {
				return total, io.ErrShortWrite
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close implements io.Closer.
func (rr *resumingReader) Close() error {
	rr.closeBody()
	rr.stopCtx()
	if rr.err == nil {
		rr.err = errClosed
	}
	return nil
}

// finish ends the reader with err (io.EOF for success).
func (rr *resumingReader) finish(err error) error {
	rr.closeBody()
	rr.stopCtx()
	rr.err = err
	return err
}

func (rr *resumingReader) closeBody() {
	if rr.body == nil {
		return
	}
	rr.timer.Stop()
	_ = rr.body.Close()
	rr.cancel(context.Canceled)
	rr.body, rr.actx, rr.cancel, rr.timer = nil, nil, nil, nil
}

// rateMeter judges the rate of a transfer over windows of the time spent
// waiting for it.
type rateMeter struct {
	min    int64 // bytes per second; 0 means no minimum
	window time.Duration

	waited time.Duration // in the current window
	got    int64
}

// add counts n bytes received in d of waiting, and returns an error
// wrapping ErrTooSlow once a full window held less than the minimum.
func (m *rateMeter) add(n int, d time.Duration) error {
	if m.min <= 0 {
		return nil
	}
	m.waited += d
	m.got += int64(n)
	if m.waited < m.window {
		return nil
	}
	rate := float64(m.got) / m.waited.Seconds()
	if rate < float64(m.min) {
		return fmt.Errorf("%d bytes in %s (%.0f B/s), below the minimum of %d B/s: %w",
			m.got, m.waited.Round(time.Millisecond), rate, m.min, ErrTooSlow)
	}
	m.waited, m.got = 0, 0
	return nil
}

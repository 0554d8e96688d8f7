package clonestream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cdi-functions/cdi-functions/pkg/progress"
)

// TargetOptions say where a Target writes and whom it accepts.
type TargetOptions struct {
	// Path is the target claim: a directory (disk.img is written in it,
	// or the tree extracted into it) or a block device.
	Path string
	// Capacity bounds what may be written (0: the device, or the file
	// system's free space); a directory's disk.img is grown to it.
	Capacity int64
	// Credential is the clone's credential, which the source must
	// present.
	Credential []byte
	// Progress receives the logical bytes received (nil: none).
	Progress progress.Reporter
}

// Target receives one clone. Serve takes one connection; connections may
// come one after the other (a source reconnecting after a cut resumes
// where the last left off) or at once: an authenticated connection takes
// the transfer over from an older one, which it closes. Nothing is
// published before the whole content arrived and its digest matched.
type Target struct {
	opts TargetOptions
	// ctx bounds the transfer across connections.
	ctx context.Context

	// mu guards cur: held by the connection that serves the transfer.
	mu  sync.Mutex
	cur *transfer

	// activeMu guards active, the connection holding mu.
	activeMu sync.Mutex
	active   io.Closer
}

// Result is a published clone.
type Result struct {
	Header Header
	// Path is where it was published.
	Path string
	// Written is the bytes stored (holes and zero blocks excluded).
	Written int64
}

// NewTarget returns a target; ctx bounds the whole transfer.
func NewTarget(ctx context.Context, opts TargetOptions) *Target {
	if opts.Progress == nil {
		opts.Progress = progress.Discard{}
	}
	return &Target{opts: opts, ctx: ctx}
}

// Serve receives over conn (a TLS connection from the source). It returns
// the result once the clone is published; ErrUnauthorized for a peer
// that did not present the clone's credential in a valid hello (nothing
// else happened); a
// TransportError when the connection broke or was taken over (the
// transfer waits for the next one); any other error is final (the
// transfer was discarded, and the source was told why).
func (t *Target) Serve(ctx context.Context, conn io.ReadWriteCloser) (Result, error) {
	enc, dec := NewEncoder(conn), NewDecoder(conn)
	if err := dec.Hello(t.opts.Credential); err != nil {
		if errors.Is(err, ErrUnauthorized) {
			// Read the header first: closing with unread bytes resets
			// the connection, and the answer would be lost.
			_, _ = dec.Header()
			_ = enc.Accept(StatusUnauthorized, 0, "unauthorized")
			return Result{}, err
		}
		// Whatever it was, it did not authenticate.
		return Result{}, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	hdr, err := dec.Header()
	if err != nil {
		if !Retryable(err) {
			_ = enc.Accept(StatusFailed, 0, oneLine(err))
		}
		return Result{}, err
	}
	release := t.takeOver(conn)
	defer release()

	if t.cur != nil && t.cur.hdr != hdr {
		t.discard()
	}
	resume := int64(0)
	if t.cur != nil {
		ok := false
		if resume, ok = t.cur.resumeAt(); !ok {
			t.discard()
		}
	}
	if t.cur == nil {
		s, err := openSink(t.ctx, t.opts.Path, t.opts.Capacity, hdr)
		if err == nil {
			t.cur, err = newTransfer(hdr, s)
			if err != nil {
				s.abort()
			}
		}
		if err != nil {
			_ = enc.Accept(StatusFailed, 0, oneLine(err))
			return Result{}, fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	if err := enc.Accept(StatusOK, resume, ""); err != nil {
		return Result{}, err
	}
	return t.receive(ctx, enc, dec)
}

// receive applies records until the trailer, then publishes.
func (t *Target) receive(ctx context.Context, enc *Encoder, dec *Decoder) (Result, error) {
	x := t.cur
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, transport(err)
		}
		rec, err := dec.record(x.buf)
		if err == nil {
			var done bool
			if done, err = x.apply(rec); err == nil && done {
				return t.publish(enc)
			}
		}
		if err != nil {
			if Retryable(err) {
				return Result{}, err
			}
			t.discard()
			_ = enc.Result(StatusFailed, oneLine(err))
			return Result{}, err
		}
		if rec.typ == recordData || rec.typ == recordHole {
			t.opts.Progress.Report(progress.Update{Phase: progress.PhaseWriting, Done: x.total - x.fileSize() + x.pos, Total: x.hdr.Size})
		}
	}
}

// publish commits the verified content and tells the source.
func (t *Target) publish(enc *Encoder) (Result, error) {
	x := t.cur
	t.cur = nil
	defer x.close()
	where, err := x.sink.commit()
	if err != nil {
		_ = enc.Result(StatusFailed, oneLine(err))
		return Result{}, err
	}
	res := Result{Header: x.hdr, Path: where, Written: x.sink.written()}
	t.opts.Progress.Report(progress.Update{Phase: progress.PhaseDone, Done: x.hdr.Size, Total: x.hdr.Size})
	_ = enc.Result(StatusOK, fmt.Sprintf("published %s", where))
	return res, nil
}

// Close discards an unfinished transfer (it was never published).
func (t *Target) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.discard()
}

// discard drops the transfer in progress. Called holding mu.
func (t *Target) discard() {
	if t.cur != nil {
		t.cur.sink.abort()
		t.cur.close()
		t.cur = nil
	}
}

// takeOver closes the connection serving the transfer, if any, and waits
// for it to let go; the returned function lets go in turn.
func (t *Target) takeOver(conn io.Closer) func() {
	t.activeMu.Lock()
	if t.active != nil {
		_ = t.active.Close()
	}
	t.activeMu.Unlock()
	t.mu.Lock()
	t.activeMu.Lock()
	t.active = conn
	t.activeMu.Unlock()
	return func() {
		t.activeMu.Lock()
		if t.active == conn {
			t.active = nil
		}
		t.activeMu.Unlock()
		t.mu.Unlock()
	}
}

// fileSize is the size of the current tree file (0 outside one).
func (x *transfer) fileSize() int64 {
	if x.file == nil {
		return 0
	}
	return x.file.Size
}

// oneLine flattens an error message for the other end.
func oneLine(err error) string {
	b := []byte(err.Error())
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}

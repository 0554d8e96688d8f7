package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/cdi-functions/cdi-functions/pkg/pipeline"
	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy/tus"
)

// Uploads that arrive through the spool (async and resumable) are
// imported from it once complete, by the same pipeline as a streamed
// upload; the spooled file can be read in place (a qcow2 needs no second
// copy).

// processing is one import of the spool, running in the receiver's base
// context: it outlives the request that completed the upload.
type processing struct {
	done    chan struct{}
	outcome uploadOutcome
}

// process imports the complete spool while holding h (made
// uninterruptible), then releases it. The result is in the returned
// processing once done is closed.
func (rc *receiver) process(h *holder, st spoolState) *processing {
	rc.slot.pin(h)
	p := &processing{done: make(chan struct{})}
	rc.setOutcome(uploadOutcome{state: tus.StateProcessing})
	go func() {
		defer close(p.done)
		defer rc.slot.release(h)
		ct, err := pipeline.ParseContentType(st.ContentType)
		var res pipeline.Result
		if err == nil {
			res, err = rc.importFile(rc.base, ct, rc.spool.DataPath())
		}
		p.outcome = rc.processed(st, res, err)
	}()
	return p
}

// processed records what became of the spooled upload: success ends the
// command; a failure retrying cannot fix discards the spool (the client
// must upload again); any other keeps it, to be processed again.
func (rc *receiver) processed(st spoolState, res pipeline.Result, err error) uploadOutcome {
	if err == nil {
		_ = rc.spool.drop()
		o := uploadOutcome{state: tus.StateSucceeded, code: http.StatusOK, message: fmt.Sprintf("uploaded %s: %s, %s stored",
			layerList(res), progress.Bytes(res.Size), progress.Bytes(res.Written))}
		rc.setOutcome(o)
		rc.succeeded()
		return o
	}
	code := statusFor(rc.base, err)
	if code != http.StatusServiceUnavailable {
		_ = rc.spool.drop()
	}
	o := uploadOutcome{state: tus.StateFailed, code: code, message: oneLine(err)}
	rc.setOutcome(o)
	if st.Async {
		select {
		case rc.fatal <- err:
		default:
		}
	}
	return o
}

func (rc *receiver) setOutcome(o uploadOutcome) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.outcome = o
}

func (rc *receiver) lastOutcome() uploadOutcome {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.outcome
}

// resume imports an upload that a previous run of the container stored
// completely but did not finish importing.
func (rc *receiver) resume() {
	if rc.spool == nil {
		return
	}
	st, ok := rc.spool.state()
	if !ok || !st.complete() {
		return
	}
	if h, ok := rc.slot.tryAcquire(nil); ok {
		rc.process(h, st)
	}
}

// serveAsync stores the whole body in the spool, answers 200 once it is
// durable, and imports it afterwards; the claim's phase tells the outcome.
func (rc *receiver) serveAsync(w http.ResponseWriter, r *http.Request, h *holder, ct pipeline.ContentType) {
	if rc.spool == nil {
		rc.slot.release(h)
		http.Error(w, "this upload pod has no scratch space for async uploads", http.StatusNotImplemented)
		return
	}
	length := r.ContentLength
	if length < 0 {
		length = -1
	}
	if rc.spool.max > 0 && length > rc.spool.max {
		rc.slot.release(h)
		http.Error(w, fmt.Sprintf("the image (%d bytes) is larger than the claim", length), http.StatusRequestEntityTooLarge)
		return
	}
	if err := rc.spool.create(spoolState{ID: rc.id, Length: length, ContentType: string(ct), Async: true}); err != nil {
		rc.slot.release(h)
		http.Error(w, oneLine(err), http.StatusServiceUnavailable)
		return
	}
	_, err := rc.spool.write(r.Context(), r.Body, nil, nil, rc.spooled(length))
	if err == nil && length < 0 {
		err = rc.spool.setLength()
	}
	st, _ := rc.spool.state()
	if err != nil || !st.complete() {
		_ = rc.spool.drop()
		rc.slot.release(h)
		code := statusFor(r.Context(), err)
		if errors.Is(err, errTooLong) {
			code = http.StatusRequestEntityTooLarge
		}
		msg := "the upload broke off before its end: upload again"
		if err != nil {
			msg = oneLine(err)
		}
		http.Error(w, msg, code)
		return
	}
	rc.process(h, st)
	fmt.Fprintf(w, "received %s; the image is being imported: the claim's cdi.kubevirt.io/storage.pod.phase tells the outcome\n",
		progress.Bytes(st.Offset))
}

// spooled reports stored bytes as progress.
func (rc *receiver) spooled(total int64) func(int64) {
	return func(off int64) {
		rc.progress.Report(progress.Update{Phase: progress.PhaseSpooling, Done: off, Total: max(total, 0)})
	}
}

// waitProcessing returns p's outcome, or false when ctx ends first.
func waitProcessing(ctx context.Context, p *processing) (uploadOutcome, bool) {
	select {
	case <-p.done:
		return p.outcome, true
	case <-ctx.Done():
		return uploadOutcome{}, false
	}
}

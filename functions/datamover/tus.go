package main

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy/tus"
)

// The receiver's tus 1.0 server (core, creation, checksum): one upload,
// named by the claim's UID, stored in the spool. Offsets it reports count
// only bytes made durable. After the last byte the spool is imported and
// the last PATCH answers with the import's outcome (204, or 400/413 with
// the reason); HEAD tells the state in tus.HeaderState.

// interruptWait bounds how long a request waits for an earlier PATCH of a
// client that lost its connection to let go.
const interruptWait = 10 * time.Second

func (rc *receiver) serveTus(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set(tus.HeaderResumable, tus.Version)
	hdr.Set("Cache-Control", "no-store")
	if rc.spool == nil {
		http.Error(w, "this upload pod has no scratch space for resumable uploads", http.StatusNotImplemented)
		return
	}
	if r.Method == http.MethodOptions {
		hdr.Set(tus.HeaderVersion, tus.Version)
		hdr.Set(tus.HeaderExtension, tus.Extensions)
		hdr.Set(tus.HeaderChecksumAlgorithm, tus.Algorithms)
		if m := rc.spool.tusMaxSize(); m != "" {
			hdr.Set(tus.HeaderMaxSize, m)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Header.Get(tus.HeaderResumable) != tus.Version {
		hdr.Set(tus.HeaderVersion, tus.Version)
		http.Error(w, "Tus-Resumable must be "+tus.Version, http.StatusPreconditionFailed)
		return
	}
	id, hasID := strings.CutPrefix(r.URL.Path, tusPath+"/")
	switch {
	case !hasID && r.Method == http.MethodPost:
		rc.tusCreate(w, r)
	case hasID && id != rc.id:
		http.Error(w, "no such upload", http.StatusNotFound)
	case hasID && r.Method == http.MethodHead:
		rc.tusHead(w, r)
	case hasID && r.Method == http.MethodPatch:
		rc.tusPatch(w, r)
	case hasID:
		hdr.Set("Allow", "HEAD, PATCH, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	default:
		hdr.Set("Allow", "POST, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// tusCreate starts the upload (replacing an unfinished one).
func (rc *receiver) tusCreate(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(tus.HeaderDeferLength) != "" {
		http.Error(w, "Upload-Defer-Length is not supported: send Upload-Length", http.StatusBadRequest)
		return
	}
	length, err := tus.ParseOffset(r.Header.Get(tus.HeaderLength))
	if err != nil {
		http.Error(w, "Upload-Length: "+err.Error(), http.StatusBadRequest)
		return
	}
	if rc.spool.max > 0 && length > rc.spool.max {
		http.Error(w, fmt.Sprintf("the image (%d bytes) is larger than the claim", length), http.StatusRequestEntityTooLarge)
		return
	}
	md, err := tus.ParseMetadata(r.Header.Get(tus.HeaderMetadata))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ct, err := rc.requestContentType(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), interruptWait)
	defer cancel()
	h, ok := rc.slot.acquire(ctx, rc.interrupter(w))
	if !ok {
		w.Header().Set("Retry-After", busyRetryAfter)
		http.Error(w, "the image is being imported or another upload is in progress", http.StatusServiceUnavailable)
		return
	}
	defer rc.slot.release(h)
	if rc.ok.Load() {
		http.Error(w, "the image is already uploaded", http.StatusConflict)
		return
	}
	if err := rc.spool.create(spoolState{ID: rc.id, Length: length, Metadata: md, ContentType: string(ct)}); err != nil {
		http.Error(w, oneLine(err), http.StatusServiceUnavailable)
		return
	}
	rc.setOutcome(uploadOutcome{state: tus.StateReceiving})
	w.Header().Set("Location", tusPath+"/"+rc.id)
	w.Header().Set(tus.HeaderOffset, "0")
	w.WriteHeader(http.StatusCreated)
}

// tusHead tells how many bytes are stored. A PATCH still receiving (its
// client gone, the server not yet aware) is stopped first, so the offset
// is exact.
func (rc *receiver) tusHead(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), interruptWait)
	defer cancel()
	rc.slot.wait(ctx)
	st, ok := rc.spool.state()
	o := rc.lastOutcome()
	if rc.ok.Load() {
		o.state = tus.StateSucceeded
	}
	if o.state != "" {
		w.Header().Set(tus.HeaderState, o.state)
	}
	if o.message != "" {
		w.Header().Set(tus.HeaderMessage, o.message)
	}
	if !ok {
		// Succeeded (the spool is gone), failed for good, or never created.
		code := http.StatusNotFound
		if o.state == tus.StateSucceeded {
			code = http.StatusGone
		}
		w.WriteHeader(code)
		return
	}
	w.Header().Set(tus.HeaderOffset, strconv.FormatInt(st.Offset, 10))
	if st.Length >= 0 {
		w.Header().Set(tus.HeaderLength, strconv.FormatInt(st.Length, 10))
	}
	if len(st.Metadata) > 0 {
		w.Header().Set(tus.HeaderMetadata, tus.FormatMetadata(st.Metadata))
	}
	w.WriteHeader(http.StatusOK)
}

// tusPatch appends the body at Upload-Offset. The last chunk's answer
// waits for the import: 204 imported, else the import's refusal.
func (rc *receiver) tusPatch(w http.ResponseWriter, r *http.Request) {
	if mt := strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]); mt != tus.ContentType {
		http.Error(w, "Content-Type must be "+tus.ContentType, http.StatusUnsupportedMediaType)
		return
	}
	off, err := tus.ParseOffset(r.Header.Get(tus.HeaderOffset))
	if err != nil {
		http.Error(w, "Upload-Offset: "+err.Error(), http.StatusBadRequest)
		return
	}
	var sum hash.Hash
	var want []byte
	if v := r.Header.Get(tus.HeaderChecksum); v != "" {
		c, err := tus.ParseChecksum(v)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum, want = c.Hash(), c.Digest
	}
	ctx, cancel := context.WithTimeout(r.Context(), interruptWait)
	h, ok := rc.slot.acquire(ctx, rc.interrupter(w))
	cancel()
	if !ok {
		w.Header().Set("Retry-After", busyRetryAfter)
		http.Error(w, "the image is being imported or another upload is in progress", http.StatusServiceUnavailable)
		return
	}
	st, exists := rc.spool.state()
	switch {
	case rc.ok.Load():
		rc.slot.release(h)
		http.Error(w, "the image is already uploaded", http.StatusConflict)
		return
	case !exists:
		rc.slot.release(h)
		http.Error(w, "no such upload: create it again", http.StatusNotFound)
		return
	case off != st.Offset:
		rc.slot.release(h)
		w.Header().Set(tus.HeaderOffset, strconv.FormatInt(st.Offset, 10))
		http.Error(w, fmt.Sprintf("Upload-Offset is %d, the upload holds %d bytes", off, st.Offset), http.StatusConflict)
		return
	}
	_, werr := rc.spool.write(r.Context(), r.Body, sum, want, rc.spooled(st.Length))
	st, _ = rc.spool.state()
	w.Header().Set(tus.HeaderOffset, strconv.FormatInt(st.Offset, 10))
	if werr != nil || !st.complete() {
		rc.slot.release(h)
		switch {
		case werr == nil:
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(werr, errChecksum):
			http.Error(w, werr.Error(), tus.StatusChecksumMismatch)
		case errors.Is(werr, errTooLong):
			http.Error(w, werr.Error(), http.StatusRequestEntityTooLarge)
		default:
			// The body broke off (or this PATCH was interrupted): what
			// arrived is stored; the client resumes from Upload-Offset.
			w.Header().Set("Retry-After", "1")
			http.Error(w, "the chunk broke off: resume from Upload-Offset", http.StatusServiceUnavailable)
		}
		return
	}
	o, ok := waitProcessing(r.Context(), rc.process(h, st))
	if !ok {
		return
	}
	w.Header().Set(tus.HeaderState, o.state)
	if o.state == tus.StateSucceeded {
		w.Header().Set(tus.HeaderMessage, o.message)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Error(w, o.message, o.code)
}

// interrupter stops the PATCH answering on w: its body's next read fails
// at once.
func (rc *receiver) interrupter(w http.ResponseWriter) func() {
	c := http.NewResponseController(w)
	return func() { _ = c.SetReadDeadline(time.Now()) }
}

package uploadproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// Backend is where a claim's upload data pod listens, the credential it
// accepts and how to verify it: each upload pod serves its own certificate.
type Backend struct {
	// URL is the pod's base URL (https://10.244.0.17:8443); it must be
	// https.
	URL string
	// Credential is the bearer credential of that pod.
	Credential string
	// TLS is exactly the configuration to connect with: RootCAs the upload
	// pods' CA, ServerName the name the pod's certificate carries (bound to
	// the claim's UID). Required.
	TLS *tls.Config
}

// Locator finds the upload pod of the claim a token opens.
type Locator interface {
	// Locate returns the backend of the claim's current upload pod, or an
	// error wrapping ErrNoTarget, ErrStale, ErrDone or ErrNotReady.
	Locate(ctx context.Context, scope uploadtoken.Scope) (Backend, error)
}

// Locate's refusals.
var (
	// ErrNoTarget: the claim is gone, was re-created (another UID) or is
	// not an upload target.
	ErrNoTarget = errors.New("no such upload target")
	// ErrDone: the claim's upload has succeeded already.
	ErrDone = errors.New("the claim is already uploaded")
	// ErrNotReady: the claim's upload pod does not listen yet.
	ErrNotReady = errors.New("the upload pod is not ready")
	// ErrStale: the claim was deleted and created again under its name
	// since the token was issued (its UID differs): the token is refused.
	ErrStale = errors.New("the token is for an earlier claim of that name")
)

// HeaderContentType is CDI's header for the claim's content type
// (kubevirt, the default, or archive), passed on to the upload pod.
const HeaderContentType = "X-Cdi-Content-Type"

// formField is the multipart field of the -form endpoints.
const formField = "file"

// Handler serves the upload endpoints.
type Handler struct {
	// Keys verify tokens.
	Keys *uploadtoken.Keys
	// Locator finds upload pods.
	Locator Locator
	// Transport is the template of the transport made for each upload pod
	// (its TLS configuration is replaced by the Backend's, and it never
	// bounds how long a response may take). Nil: a default with a 10 s
	// dial and handshake timeout.
	Transport *http.Transport
	// MaxTransports bounds the transports kept, one per upload pod
	// (DefaultMaxTransports when zero); the least recently used is closed.
	MaxTransports int
	// Wait bounds how long a request waits for a pod that is not ready.
	Wait time.Duration
	// Poll is how often Locate is asked again while waiting.
	Poll time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	once sync.Once
	pods *transports
}

// endpoint is what a request path asks for.
type endpoint struct {
	// form: the image is the "file" field of a multipart form.
	form bool
	// async: answered once the pod stored the image; the import follows.
	async bool
	// tus: the resumable endpoint; id is the upload named in the path
	// ("" for creation).
	tus bool
	id  string
	// prefix is the tus endpoint's path, for Location.
	prefix string
}

// route returns the endpoint of path: the upload paths of both API
// versions (CDI's upload, upload-async, upload-form, upload-form-async)
// and the resumable upload-tus.
func route(path string) (endpoint, bool) {
	for _, v := range []string{"/v1alpha1/", "/v1beta1/"} {
		rest, ok := strings.CutPrefix(path, v)
		if !ok {
			continue
		}
		switch rest {
		case "upload":
			return endpoint{}, true
		case "upload-async":
			return endpoint{async: true}, true
		case "upload-form":
			return endpoint{form: true}, true
		case "upload-form-async":
			return endpoint{form: true, async: true}, true
		case tusEndpoint:
			return endpoint{tus: true, prefix: v + tusEndpoint}, true
		}
		if id, ok := strings.CutPrefix(rest, tusEndpoint+"/"); ok && id != "" && !strings.Contains(id, "/") {
			return endpoint{tus: true, id: id, prefix: v + tusEndpoint}, true
		}
	}
	return endpoint{}, false
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Path == "/healthz" {
		text(w, http.StatusOK, "ok")
		return
	}
	ep, ok := route(r.URL.Path)
	if !ok {
		text(w, http.StatusNotFound, "not an upload endpoint")
		return
	}
	if ep.tus {
		if !tusMethodAllowed(ep, r.Method) {
			w.Header().Set("Allow", tusAllow(ep))
			text(w, http.StatusMethodNotAllowed, "use "+tusAllow(ep))
			return
		}
	} else if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		text(w, http.StatusMethodNotAllowed, "use POST or PUT")
		return
	}
	scope, err := h.verify(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cdi-upload"`)
		msg := "missing, malformed or invalid upload token"
		if errors.Is(err, uploadtoken.ErrExpired) {
			msg = "the upload token has expired: request a new one"
		}
		text(w, http.StatusUnauthorized, msg)
		return
	}
	be, err := h.locate(r.Context(), scope)
	switch {
	case errors.Is(err, ErrStale):
		w.Header().Set("WWW-Authenticate", `Bearer realm="cdi-upload", error="invalid_token"`)
		text(w, http.StatusUnauthorized, "the upload token is for an earlier claim of that name: request a new one")
		return
	case errors.Is(err, ErrNoTarget):
		text(w, http.StatusNotFound, fmt.Sprintf("no upload target %s/%s", scope.Namespace, scope.Name))
		return
	case errors.Is(err, ErrDone):
		text(w, http.StatusConflict, fmt.Sprintf("%s/%s is already uploaded", scope.Namespace, scope.Name))
		return
	case err != nil:
		w.Header().Set("Retry-After", "5")
		text(w, http.StatusServiceUnavailable, fmt.Sprintf("the upload pod of %s/%s is not ready: try again shortly", scope.Namespace, scope.Name))
		return
	}
	if ep.tus {
		h.forwardTus(w, r, be, ep, scope)
		return
	}
	body, length, err := h.body(r, ep)
	if err != nil {
		text(w, http.StatusBadRequest, err.Error())
		return
	}
	path := "/upload"
	if ep.async {
		path = "/upload-async"
	}
	h.forward(w, r, be, path, body, length)
}

// verify returns the scope of the request's bearer token.
func (h *Handler) verify(r *http.Request) (uploadtoken.Scope, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return uploadtoken.Scope{}, uploadtoken.ErrInvalid
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	s, err := h.Keys.Verify(strings.TrimSpace(tok), now())
	if err == nil && s.Operation != uploadtoken.OperationUpload {
		err = uploadtoken.ErrInvalid
	}
	return s, err
}

// locate asks the Locator, waiting up to Wait for a pod that is not ready.
func (h *Handler) locate(ctx context.Context, scope uploadtoken.Scope) (Backend, error) {
	ctx, cancel := context.WithTimeout(ctx, h.Wait)
	defer cancel()
	poll := h.Poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		be, err := h.Locator.Locate(ctx, scope)
		if !errors.Is(err, ErrNotReady) {
			return be, err
		}
		select {
		case <-ctx.Done():
			return Backend{}, err
		case <-t.C:
		}
	}
}

// body is the image: the request body, or the "file" part of a multipart
// form; length is -1 when unknown.
func (h *Handler) body(r *http.Request, ep endpoint) (io.Reader, int64, error) {
	if !ep.form {
		return r.Body, r.ContentLength, nil
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, 0, errors.New("an upload-form request must be multipart/form-data")
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return nil, 0, fmt.Errorf("the form has no %q field", formField)
		}
		if p.FormName() == formField {
			return p, -1, nil
		}
	}
}

// forward streams body to the upload pod's path and relays its answer.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, be Backend, path string, body io.Reader, length int64) {
	ans, ok := h.send(w, r, be, http.MethodPost, path, body, length, nil)
	if !ok {
		return
	}
	code := ans.code
	if code == http.StatusUnauthorized {
		// The proxy's credential was refused: not the user's fault.
		code = http.StatusBadGateway
	}
	if ra := ans.header.Get("Retry-After"); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	text(w, code, strings.TrimSpace(string(ans.msg)))
	ans.done(w, r)
}

// podAnswer is the upload pod's answer to one request: its status, headers
// and (the first 64 KiB of) its message; unread is set when the pod
// answered before the client's body ended (see drain).
type podAnswer struct {
	code   int
	header http.Header
	msg    []byte
	unread bool
}

// done finishes the client's request after its answer was written: the
// rest of a body the pod did not read is drained.
func (a podAnswer) done(w http.ResponseWriter, r *http.Request) {
	if a.unread {
		drain(w, r.Body)
	}
}

// letGoWait bounds how long the proxy waits, before answering, for the
// transport to stop reading the client's body once the pod answered.
const letGoWait = 5 * time.Second

// send makes one request to the upload pod with its credential (and
// headers) and returns its answer once the client's body is no longer
// read, so that the caller may answer the client; it answers the client
// itself when the pod cannot be reached.
func (h *Handler) send(w http.ResponseWriter, r *http.Request, be Backend, method, path string, body io.Reader, length int64,
	header http.Header) (podAnswer, bool) {
	var relay *relayBody
	if body == nil {
		body = http.NoBody
	} else {
		relay = newRelayBody(body)
		body = relay
	}
	req, err := http.NewRequestWithContext(r.Context(), method, strings.TrimSuffix(be.URL, "/")+path, body)
	if err != nil {
		text(w, http.StatusInternalServerError, "cannot reach the upload pod")
		return podAnswer{}, false
	}
	req.ContentLength = length
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+be.Credential)
	if ct := r.Header.Get(HeaderContentType); ct != "" {
		req.Header.Set(HeaderContentType, ct)
	}
	rt, err := h.transports().get(be, h.Transport)
	if err != nil {
		text(w, http.StatusBadGateway, "cannot reach the upload pod securely")
		return podAnswer{}, false
	}
	resp, err := rt.RoundTrip(req)
	if err == nil {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		ans := podAnswer{code: resp.StatusCode, header: resp.Header, msg: msg}
		if relay != nil {
			ended := relay.hasEnded()
			ans.unread = relay.letGo(w, letGoWait) && !ended
		}
		return ans, true
	}
	if relay != nil {
		relay.letGo(w, letGoWait)
	}
	h.transports().forget(be)
	w.Header().Set("Retry-After", "5")
	text(w, http.StatusServiceUnavailable, "the upload pod did not answer: try again")
	return podAnswer{}, false
}

// transports returns the handler's per-pod transports.
func (h *Handler) transports() *transports {
	h.once.Do(func() { h.pods = &transports{max: h.MaxTransports} })
	return h.pods
}

// text answers a plain-text message. Messages are never HTML, so nothing
// in them (a file name, the pod's reason) can be interpreted by a browser.
func text(w http.ResponseWriter, code int, msg string) {
	body := msg + "\n"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	// A length, not chunks: the answer is whole once flushed, even while
	// the rest of the client's body is drained (see drain).
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

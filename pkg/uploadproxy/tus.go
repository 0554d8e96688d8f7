package uploadproxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy/tus"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// The resumable endpoint, tus 1.0 (core, creation, checksum):
//
//	POST  /v1beta1/upload-tus        create (Upload-Length); Location is
//	                                 /v1beta1/upload-tus/<claim UID>
//	HEAD  /v1beta1/upload-tus/<UID>  Upload-Offset: the bytes the pod stored
//	PATCH /v1beta1/upload-tus/<UID>  append at Upload-Offset
//	OPTIONS either                   what the pod serves
//
// The upload is named by the claim's UID, so its URL is the same from
// every proxy replica and after a restart. The token is checked on every
// request; bodies are streamed, never buffered.

// tusEndpoint is the resumable endpoint's last path element.
const tusEndpoint = "upload-tus"

// podTusPath is the upload pod's tus endpoint.
const podTusPath = "/tus"

func tusMethodAllowed(ep endpoint, method string) bool {
	switch method {
	case http.MethodOptions:
		return true
	case http.MethodPost:
		return ep.id == ""
	case http.MethodHead, http.MethodPatch:
		return ep.id != ""
	}
	return false
}

func tusAllow(ep endpoint) string {
	if ep.id == "" {
		return "POST, OPTIONS"
	}
	return "HEAD, PATCH, OPTIONS"
}

// forwardTus checks the request's tus headers, passes it to the pod and
// relays the answer, with Location in the proxy's terms.
func (h *Handler) forwardTus(w http.ResponseWriter, r *http.Request, be Backend, ep endpoint, scope uploadtoken.Scope) {
	w.Header().Set(tus.HeaderResumable, tus.Version)
	if ep.id != "" && ep.id != scope.UID {
		text(w, http.StatusNotFound, "no such upload for this token")
		return
	}
	if err := checkTusHeaders(r); err != nil {
		text(w, http.StatusBadRequest, err.Error())
		return
	}
	hdr := http.Header{}
	for _, k := range tus.RequestHeaders {
		if v := r.Header.Values(k); len(v) > 0 {
			hdr[k] = v
		}
	}
	path := podTusPath
	if ep.id != "" {
		path += "/" + scope.UID
	}
	var body io.Reader
	length := int64(0)
	if r.Method == http.MethodPatch {
		body, length = r.Body, r.ContentLength
	}
	ans, ok := h.send(w, r, be, r.Method, path, body, length, hdr)
	if !ok {
		return
	}
	for _, k := range append(tus.ResponseHeaders, tus.HeaderMessage) {
		if v := ans.header.Values(k); len(v) > 0 {
			w.Header()[k] = v
		}
	}
	if ans.header.Get("Location") != "" {
		w.Header().Set("Location", ep.prefix+"/"+scope.UID)
	}
	code := ans.code
	if code == http.StatusUnauthorized {
		code = http.StatusBadGateway
	}
	msg := ans.msg
	defer ans.done(w, r)
	if r.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusCreated && len(msg) == 0 {
		w.WriteHeader(code)
		return
	}
	text(w, code, strings.TrimSpace(string(msg)))
}

// checkTusHeaders refuses malformed tus headers before anything reaches
// the pod (which checks them again).
func checkTusHeaders(r *http.Request) error {
	for _, k := range []string{tus.HeaderOffset, tus.HeaderLength} {
		if v := r.Header.Get(k); v != "" {
			if _, err := tus.ParseOffset(v); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
	}
	if _, err := tus.ParseMetadata(r.Header.Get(tus.HeaderMetadata)); err != nil {
		return err
	}
	if v := r.Header.Get(tus.HeaderChecksum); v != "" {
		if _, err := tus.ParseChecksum(v); err != nil {
			return err
		}
	}
	return nil
}

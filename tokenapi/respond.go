package main

import (
	"encoding/json"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// writeJSON answers code with v as JSON of contentType (application/json
// when empty).
func writeJSON(w http.ResponseWriter, code int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if contentType == "" {
		contentType = "application/json"
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// writeStatus answers a refusal as a metav1.Status, the way every
// Kubernetes API server does, so that kubectl and client-go show it as
// "Error from server (Reason): message".
func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.Status()
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	writeJSON(w, int(st.Code), "", &st)
}

// unauthorized is the answer to a request not from the front proxy.
func unauthorized(msg string) *apierrors.StatusError {
	return apierrors.NewUnauthorized(msg)
}

// methodNotAllowed is the answer to the verbs nothing stored cannot serve.
func methodNotAllowed(verb string) *apierrors.StatusError {
	return apierrors.NewMethodNotSupported(resource, verb)
}

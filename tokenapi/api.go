package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/apis/upload"
	"github.com/cdi-functions/cdi-functions/pkg/tokenrequest"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// maxBody bounds a request body: an UploadTokenRequest is a few hundred
// bytes (kubectl apply adds the last-applied annotation).
const maxBody = 64 << 10

// api is the HTTP handler of the aggregated API server: discovery, the
// OpenAPI documents and UploadTokenRequests, each behind the front proxy
// authentication; the probes without.
type api struct {
	// authn authenticates the front proxy and names the caller.
	authn *frontProxy
	// keys are the current token signing keys (nil until loaded).
	keys func() *uploadtoken.Keys
	// kube makes the SubjectAccessReviews and reads the claims.
	kube kubernetes.Interface
	// openAPI are the OpenAPI v3 documents.
	openAPI *openAPIDocs
	// now is the clock.
	now func() time.Time
	// ready reports whether the server may take requests (keys, front
	// proxy configuration and serving certificate loaded).
	ready func() bool
	// base is the context of the server, carrying the logger.
	base context.Context
}

// ServeHTTP routes a request.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz", "/livez":
		_, _ = io.WriteString(w, "ok")
		return
	case "/readyz":
		if !a.ready() {
			http.Error(w, "not ready: keys, front proxy configuration or serving certificate not loaded", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
		return
	}
	logger := logging.FromContext(a.base)
	user, err := a.authn.authenticate(r)
	if err != nil {
		logger.Infow("Refused a request", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err.Error())
		writeStatus(w, unauthorized(err.Error()))
		return
	}
	ctx := logging.WithLogger(r.Context(), logger.With("user", user.Username))
	a.route(ctx, w, r, user)
}

// route serves an authenticated request.
func (a *api) route(ctx context.Context, w http.ResponseWriter, r *http.Request, user authenticationv1.UserInfo) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	if r.Method != http.MethodGet && !strings.HasPrefix(path, "/apis/"+upload.GroupName+"/") {
		writeStatus(w, methodNotAllowed(strings.ToLower(r.Method)))
		return
	}
	switch {
	case path == "/apis":
		if wantsAggregated(r.Header.Get("Accept")) {
			writeJSON(w, http.StatusOK, aggregatedDiscoveryType, apiGroupDiscoveryList())
			return
		}
		writeJSON(w, http.StatusOK, "", apiGroupList())
		return
	case path == "/apis/"+upload.GroupName:
		writeJSON(w, http.StatusOK, "", apiGroup())
		return
	case path == "/openapi/v2":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(a.openAPI.v2)
		return
	case path == "/openapi/v3":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(a.openAPI.index)
		return
	case strings.HasPrefix(path, "/openapi/v3/"):
		doc, ok := a.openAPI.docs[strings.TrimPrefix(path, "/openapi/v3/")]
		if !ok {
			writeStatus(w, apierrors.NewNotFound(resource, path))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
		return
	case strings.HasPrefix(path, "/apis/"+upload.GroupName+"/"):
		a.resource(ctx, w, r, user, strings.Split(strings.TrimPrefix(path, "/apis/"+upload.GroupName+"/"), "/"))
		return
	}
	writeStatus(w, apierrors.NewNotFound(resource, path))
}

// resource serves /apis/upload.cdi.kubevirt.io/<parts...>.
func (a *api) resource(ctx context.Context, w http.ResponseWriter, r *http.Request, user authenticationv1.UserInfo, parts []string) {
	if !served(parts[0]) {
		writeStatus(w, apierrors.NewNotFound(resource, strings.Join(parts, "/")))
		return
	}
	v := parts[0]
	switch {
	case len(parts) == 1 && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, "", apiResourceList(v))
	case len(parts) == 2 && parts[1] == upload.Resource:
		// Every namespace's requests: never stored, never listed.
		writeStatus(w, methodNotAllowed(listVerb(r)))
	case len(parts) == 4 && parts[1] == "namespaces" && parts[3] == upload.Resource:
		if r.Method != http.MethodPost {
			writeStatus(w, methodNotAllowed(listVerb(r)))
			return
		}
		a.create(ctx, w, r, user, v, parts[2])
	case len(parts) >= 5 && parts[1] == "namespaces" && parts[3] == upload.Resource:
		// get, update, patch, delete of one request (or a subresource):
		// nothing is stored, so there is none.
		writeStatus(w, apierrors.NewNotFound(resource, parts[4]))
	default:
		writeStatus(w, apierrors.NewNotFound(resource, strings.Join(parts, "/")))
	}
}

// listVerb names the verb of a request on a collection, for refusals.
func listVerb(r *http.Request) string {
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Get("watch") != "":
		return "watch"
	case r.Method == http.MethodGet:
		return "list"
	case r.Method == http.MethodDelete:
		return "deletecollection"
	}
	return strings.ToLower(r.Method)
}

// create answers a POST of an UploadTokenRequest with a fresh token.
func (a *api) create(ctx context.Context, w http.ResponseWriter, r *http.Request, user authenticationv1.UserInfo, v, ns string) {
	logger := logging.FromContext(ctx)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeStatus(w, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("an UploadTokenRequest is at most %d bytes", maxBody)))
			return
		}
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("read the request: %v", err)))
		return
	}
	q := r.URL.Query()
	req, st := decodeRequest(body, r.Header.Get("Content-Type"), v, ns, createParams{FieldValidation: q.Get("fieldValidation"), DryRun: q["dryRun"]})
	if st != nil {
		writeStatus(w, st)
		return
	}
	keys := a.keys()
	if keys == nil {
		writeStatus(w, apierrors.NewServiceUnavailable("the upload token keys are not loaded yet"))
		return
	}
	is := &tokenrequest.Issuer{Keys: keys, Kube: a.kube, Now: a.now}
	obj := req.obj
	tok, err := is.Issue(ctx, user, ns, obj.Spec.PvcName)
	if err != nil {
		writeStatus(w, issueRefusal(ctx, obj.Name, obj.Spec.PvcName, err))
		return
	}
	if !req.dryRun {
		obj.Status.Token = tok
	}
	obj.APIVersion = upload.GroupName + "/" + v
	obj.CreationTimestamp = metav1.NewTime(a.now().Truncate(time.Second))
	for _, warn := range req.warnings {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", warn))
	}
	logger.Infow("Issued an upload token", "namespace", ns, "claim", obj.Spec.PvcName, "dryRun", req.dryRun)
	writeJSON(w, http.StatusCreated, "", obj)
}

// issueRefusal is the answer to a refusal of tokenrequest.Issuer: 403
// naming the missing permission, 422 on spec.pvcName for a claim that does
// not exist or is not an upload target, 500 otherwise (logged; the caller
// is told to retry).
func issueRefusal(ctx context.Context, name, claim string, err error) *apierrors.StatusError {
	switch {
	case errors.Is(err, tokenrequest.ErrForbidden):
		return apierrors.NewForbidden(resource, name, err)
	case errors.Is(err, tokenrequest.ErrNoTarget):
		return apierrors.NewInvalid(schema.GroupKind{Group: upload.GroupName, Kind: upload.Kind}, name, field.ErrorList{
			field.Invalid(field.NewPath("spec", "pvcName"), claim, strings.TrimPrefix(err.Error(), tokenrequest.ErrNoTarget.Error()+": ")),
		})
	}
	logging.FromContext(ctx).Errorw("Issuing an upload token", "claim", claim, "error", err)
	return apierrors.NewInternalError(errors.New("the upload token could not be issued; try again"))
}

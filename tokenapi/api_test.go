package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/apis/upload/v1alpha1"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// seedBody is the 2018 post's upload-token.yaml as kubectl apply sends
// it: JSON, with the last-applied annotation.
const seedBody = `{"apiVersion":"upload.cdi.kubevirt.io/v1alpha1","kind":"UploadTokenRequest",
 "metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"},"name":"upload-pvc","namespace":"default"},
 "spec":{"pvcName":"upload-pvc"}}`

// apiFixture is the handler with a fake API server in which the alice may
// update exactly the claims in allowed.
type apiFixture struct {
	h       *api
	proxy   *testCA
	keys    *uploadtoken.Keys
	reviews []*authorizationv1.SubjectAccessReview
}

func newAPIFixture(t *testing.T, allowed ...string) *apiFixture {
	t.Helper()
	f := &apiFixture{proxy: newTestCA(t, "front-proxy-ca")}
	kube := fake.NewClientset(
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "upload-pvc", UID: types.UID("uid-1"),
			Annotations: map[string]string{annotations.UploadTarget: ""}}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "plain", UID: types.UID("uid-2")}},
	)
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		f.reviews = append(f.reviews, sar)
		out := sar.DeepCopy()
		for _, n := range allowed {
			out.Status.Allowed = out.Status.Allowed || (sar.Spec.User == "alice" && sar.Spec.ResourceAttributes.Name == n)
		}
		return true, out, nil
	})
	data, err := uploadtoken.NewSecretData()
	require.NoError(t, err)
	f.keys, err = uploadtoken.ParseKeys(data)
	require.NoError(t, err)
	cfg, err := parseFrontProxyConfig(authConfigMap(f.proxy))
	require.NoError(t, err)
	authn := newFrontProxy(func() time.Time { return t0 })
	authn.set(cfg)
	docs, err := newOpenAPIDocs()
	require.NoError(t, err)
	f.h = &api{
		authn: authn, keys: func() *uploadtoken.Keys { return f.keys }, kube: kube, openAPI: docs,
		now: func() time.Time { return t0 }, ready: func() bool { return true },
		base: logging.WithLogger(context.Background(), logging.FromContext(context.Background())),
	}
	return f
}

// do sends a request as alice through the front proxy (or without its
// certificate when anonymous).
func (f *apiFixture) do(t *testing.T, method, target, body string, header http.Header, viaProxy bool) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	var cert = f.proxy.client(t, "front-proxy-client", false)
	if !viaProxy {
		cert = nil
	}
	r = withCert(r, cert)
	r.Header.Set("X-Remote-User", "alice")
	r.Header.Set("X-Remote-Group", "system:authenticated")
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// status decodes a metav1.Status answer.
func status(t *testing.T, w *httptest.ResponseRecorder) metav1.Status {
	t.Helper()
	var st metav1.Status
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &st), w.Body.String())
	assert.Equal(t, "Status", st.Kind)
	assert.Equal(t, "v1", st.APIVersion)
	assert.Equal(t, int32(w.Code), st.Code)
	return st
}

const collection = "/apis/upload.cdi.kubevirt.io/v1alpha1/namespaces/default/uploadtokenrequests"

func TestCreate(t *testing.T) {
	tests := []struct {
		name       string
		target     string
		body       string
		header     http.Header
		allowed    []string
		noProxy    bool
		wantCode   int
		wantReason metav1.StatusReason
		wantInMsg  string
		wantToken  bool
	}{{
		name: "the seed's request, as kubectl apply sends it", target: collection + "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
		body: seedBody, allowed: []string{"upload-pvc"}, wantCode: http.StatusCreated, wantToken: true,
	}, {
		name: "v1beta1", target: strings.Replace(collection, "v1alpha1", "v1beta1", 1),
		body: strings.Replace(seedBody, "v1alpha1", "v1beta1", 1), allowed: []string{"upload-pvc"}, wantCode: http.StatusCreated, wantToken: true,
	}, {
		name: "dry run: checked, no token", target: collection + "?dryRun=All", body: seedBody, allowed: []string{"upload-pvc"}, wantCode: http.StatusCreated,
	}, {
		name: "the caller may not update the claim", target: collection, body: seedBody,
		wantCode: http.StatusForbidden, wantReason: metav1.StatusReasonForbidden,
		wantInMsg: `user "alice" may not update persistentvolumeclaims "upload-pvc" in namespace "default"`,
	}, {
		name: "forged identity headers without the front proxy's certificate", target: collection, body: seedBody, allowed: []string{"upload-pvc"}, noProxy: true,
		wantCode: http.StatusUnauthorized, wantReason: metav1.StatusReasonUnauthorized, wantInMsg: "no client certificate",
	}, {
		name: "the claim is not an upload target", target: collection, body: strings.Replace(seedBody, `"pvcName":"upload-pvc"`, `"pvcName":"plain"`, 1),
		allowed: []string{"plain"}, wantCode: http.StatusUnprocessableEntity, wantReason: metav1.StatusReasonInvalid,
		wantInMsg: "annotate it " + annotations.UploadTarget,
	}, {
		name: "no such claim", target: collection, body: strings.Replace(seedBody, `"pvcName":"upload-pvc"`, `"pvcName":"gone"`, 1),
		allowed: []string{"gone"}, wantCode: http.StatusUnprocessableEntity, wantReason: metav1.StatusReasonInvalid, wantInMsg: "does not exist",
	}, {
		name: "malformed body", target: collection, body: `{"apiVersion":`, allowed: []string{"upload-pvc"},
		wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest, wantInMsg: "malformed UploadTokenRequest",
	}, {
		name: "another kind", target: collection, body: strings.Replace(seedBody, `"kind":"UploadTokenRequest"`, `"kind":"Pod"`, 1),
		wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest, wantInMsg: `the kind in the data ("Pod")`,
	}, {
		name: "another version than the URL's", target: strings.Replace(collection, "v1alpha1", "v1beta1", 1), body: seedBody,
		wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest, wantInMsg: "does not match the expected API version",
	}, {
		name: "another namespace than the URL's", target: strings.Replace(collection, "/default/", "/other/", 1), body: seedBody,
		wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest, wantInMsg: "does not match the namespace sent on the request",
	}, {
		name: "unknown field, strict", target: collection + "?fieldValidation=Strict", body: strings.Replace(seedBody, `"pvcName"`, `"pvc":"x","pvcName"`, 1),
		wantCode: http.StatusBadRequest, wantReason: metav1.StatusReasonBadRequest, wantInMsg: `unknown field "spec.pvc"`,
	}, {
		name: "no claim name", target: collection, body: strings.Replace(seedBody, `"pvcName":"upload-pvc"`, `"pvcName":""`, 1),
		wantCode: http.StatusUnprocessableEntity, wantReason: metav1.StatusReasonInvalid, wantInMsg: "spec.pvcName: Required value",
	}, {
		name: "YAML is fine too", target: collection, header: http.Header{"Content-Type": {"application/yaml"}}, allowed: []string{"upload-pvc"},
		body:     "apiVersion: upload.cdi.kubevirt.io/v1alpha1\nkind: UploadTokenRequest\nmetadata:\n  name: upload-pvc\n  namespace: default\nspec:\n  pvcName: upload-pvc\n",
		wantCode: http.StatusCreated, wantToken: true,
	}, {
		name: "protobuf is not", target: collection, header: http.Header{"Content-Type": {"application/vnd.kubernetes.protobuf"}}, body: "x",
		wantCode: http.StatusUnsupportedMediaType, wantReason: metav1.StatusReasonUnsupportedMediaType,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAPIFixture(t, tt.allowed...)
			w := f.do(t, http.MethodPost, tt.target, tt.body, tt.header, !tt.noProxy)
			require.Equal(t, tt.wantCode, w.Code, w.Body.String())
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			if tt.wantCode != http.StatusCreated {
				st := status(t, w)
				assert.Equal(t, tt.wantReason, st.Reason)
				assert.Contains(t, st.Message, tt.wantInMsg)
				if tt.noProxy {
					assert.Empty(t, f.reviews, "no SubjectAccessReview for an unauthenticated request")
				}
				return
			}
			var got v1alpha1.UploadTokenRequest
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
			assert.Equal(t, "UploadTokenRequest", got.Kind)
			assert.Equal(t, "upload-pvc", got.Name)
			assert.Equal(t, "default", got.Namespace)
			assert.Equal(t, "upload-pvc", got.Spec.PvcName)
			require.Len(t, f.reviews, 1)
			assert.Equal(t, "alice", f.reviews[0].Spec.User)
			assert.Equal(t, []string{"system:authenticated"}, f.reviews[0].Spec.Groups)
			if !tt.wantToken {
				assert.Empty(t, got.Status.Token)
				return
			}
			s, err := f.keys.Verify(got.Status.Token, t0.Add(time.Minute))
			require.NoError(t, err)
			assert.True(t, s.Allows(uploadtoken.OperationUpload, "default", "upload-pvc", "uid-1"))
		})
	}
}

func TestUnknownFieldWarns(t *testing.T) {
	f := newAPIFixture(t, "upload-pvc")
	w := f.do(t, http.MethodPost, collection, strings.Replace(seedBody, `"pvcName"`, `"pvc":"x","pvcName"`, 1), nil, true)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	assert.Equal(t, []string{`299 - "unknown field \"spec.pvc\""`}, w.Header().Values("Warning"))
}

// TestNothingStored: kubectl apply GETs first (404 makes it create); list,
// watch and deletecollection cannot be served; delete finds nothing.
func TestNothingStored(t *testing.T) {
	tests := []struct {
		method, target string
		wantCode       int
		wantReason     metav1.StatusReason
	}{
		{http.MethodGet, collection + "/upload-pvc", http.StatusNotFound, metav1.StatusReasonNotFound},
		{http.MethodDelete, collection + "/upload-pvc", http.StatusNotFound, metav1.StatusReasonNotFound},
		{http.MethodPatch, collection + "/upload-pvc", http.StatusNotFound, metav1.StatusReasonNotFound},
		{http.MethodGet, collection, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed},
		{http.MethodGet, collection + "?watch=true", http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed},
		{http.MethodDelete, collection, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed},
		{http.MethodGet, "/apis/upload.cdi.kubevirt.io/v1beta1/uploadtokenrequests", http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed},
		{http.MethodGet, "/apis/upload.cdi.kubevirt.io/v2/namespaces/default/uploadtokenrequests/x", http.StatusNotFound, metav1.StatusReasonNotFound},
		{http.MethodGet, "/api/v1/pods", http.StatusNotFound, metav1.StatusReasonNotFound},
		{http.MethodPost, "/apis", http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			f := newAPIFixture(t, "upload-pvc")
			w := f.do(t, tt.method, tt.target, "", nil, true)
			require.Equal(t, tt.wantCode, w.Code, w.Body.String())
			st := status(t, w)
			assert.Equal(t, tt.wantReason, st.Reason)
			if tt.wantCode == http.StatusNotFound && strings.HasSuffix(tt.target, "/upload-pvc") {
				assert.Equal(t, `uploadtokenrequests.upload.cdi.kubevirt.io "upload-pvc" not found`, st.Message)
				require.NotNil(t, st.Details)
				assert.Equal(t, "upload-pvc", st.Details.Name)
			}
			assert.Empty(t, f.reviews)
		})
	}
}

func TestDiscovery(t *testing.T) {
	f := newAPIFixture(t)
	t.Run("aggregated", func(t *testing.T) {
		w := f.do(t, http.MethodGet, "/apis", "", http.Header{"Accept": {
			"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"}}, true)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, aggregatedDiscoveryType, w.Header().Get("Content-Type"))
		assert.JSONEq(t, `{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","metadata":{},"items":[{"metadata":{"name":"upload.cdi.kubevirt.io"},
			"versions":[
			 {"version":"v1beta1","resources":[{"resource":"uploadtokenrequests","responseKind":{"group":"upload.cdi.kubevirt.io","version":"v1beta1","kind":"UploadTokenRequest"},"scope":"Namespaced","singularResource":"uploadtokenrequest","verbs":["create"]}],"freshness":"Current"},
			 {"version":"v1alpha1","resources":[{"resource":"uploadtokenrequests","responseKind":{"group":"upload.cdi.kubevirt.io","version":"v1alpha1","kind":"UploadTokenRequest"},"scope":"Namespaced","singularResource":"uploadtokenrequest","verbs":["create"]}],"freshness":"Current"}]}]}`,
			w.Body.String())
	})
	t.Run("legacy", func(t *testing.T) {
		w := f.do(t, http.MethodGet, "/apis", "", http.Header{"Accept": {"application/json"}}, true)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), `"preferredVersion":{"groupVersion":"upload.cdi.kubevirt.io/v1beta1","version":"v1beta1"}`)
	})
	for _, v := range []string{"v1alpha1", "v1beta1"} {
		t.Run(v, func(t *testing.T) {
			w := f.do(t, http.MethodGet, "/apis/upload.cdi.kubevirt.io/"+v, "", nil, true)
			require.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"upload.cdi.kubevirt.io/`+v+`",
				"resources":[{"name":"uploadtokenrequests","singularName":"uploadtokenrequest","namespaced":true,"kind":"UploadTokenRequest","verbs":["create"]}]}`, w.Body.String())

			w = f.do(t, http.MethodGet, "/openapi/v3/apis/upload.cdi.kubevirt.io/"+v, "", nil, true)
			require.Equal(t, http.StatusOK, w.Code)
			assert.Contains(t, w.Body.String(), `"x-kubernetes-group-version-kind":{"group":"upload.cdi.kubevirt.io","kind":"UploadTokenRequest","version":"`+v+`"}`)
		})
	}
	t.Run("openapi index", func(t *testing.T) {
		w := f.do(t, http.MethodGet, "/openapi/v3", "", nil, true)
		require.Equal(t, http.StatusOK, w.Code)
		var idx struct {
			Paths map[string]struct{ ServerRelativeURL string } `json:"paths"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &idx))
		assert.Len(t, idx.Paths, 2)
		assert.Contains(t, idx.Paths["apis/upload.cdi.kubevirt.io/v1alpha1"].ServerRelativeURL, "/openapi/v3/apis/upload.cdi.kubevirt.io/v1alpha1?hash=")
	})
	t.Run("openapi v2", func(t *testing.T) {
		w := f.do(t, http.MethodGet, "/openapi/v2", "", nil, true)
		require.Equal(t, http.StatusOK, w.Code)
		var doc struct {
			Swagger     string                    `json:"swagger"`
			Definitions map[string]map[string]any `json:"definitions"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
		assert.Equal(t, "2.0", doc.Swagger)
		assert.Contains(t, doc.Definitions, "io.kubevirt.cdi.upload.v1alpha1.UploadTokenRequest")
		assert.Contains(t, doc.Definitions, "io.kubevirt.cdi.upload.v1beta1.UploadTokenRequest")
	})
	t.Run("discovery needs the front proxy too", func(t *testing.T) {
		w := f.do(t, http.MethodGet, "/apis", "", nil, false)
		assert.Equal(t, http.StatusUnauthorized, w.Code)
	})
	t.Run("probes do not", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz", "/livez"} {
			w := f.do(t, http.MethodGet, p, "", nil, false)
			assert.Equal(t, http.StatusOK, w.Code, p)
		}
	})
}

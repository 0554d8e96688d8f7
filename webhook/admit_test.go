package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/cloneauth"
)

// rbac is the fake authorizer: "user verb resource[/sub] namespace" keys
// that are allowed.
type rbac map[string]bool

func newAdmitter(t *testing.T, allowed rbac) (*admitter, *cloneauth.Verifier, *[]authorizationv1.SubjectAccessReviewSpec) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := cloneauth.NewSigner(key)
	require.NoError(t, err)
	kube := fake.NewClientset()
	var reviews []authorizationv1.SubjectAccessReviewSpec
	kube.PrependReactor("create", "subjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		sar := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		reviews = append(reviews, sar.Spec)
		ra := sar.Spec.ResourceAttributes
		if ra.Namespace == "broken" {
			return true, nil, errors.New("etcdserver: request timed out")
		}
		res := ra.Resource
		if ra.Subresource != "" {
			res += "/" + ra.Subresource
		}
		sar.Status.Allowed = allowed[sar.Spec.User+" "+ra.Verb+" "+res+" "+ra.Namespace]
		return true, sar, nil
	})
	return &admitter{path: clonePath, sign: signer.Sign, mayClone: reviewAccess(kube), now: func() time.Time { return now }},
		signer.Verifier(), &reviews
}

func raw(t *testing.T, c *corev1.PersistentVolumeClaim) runtime.RawExtension {
	t.Helper()
	b, err := json.Marshal(c)
	require.NoError(t, err)
	return runtime.RawExtension{Raw: b}
}

func admissionRequest(t *testing.T, op admissionv1.Operation, user authenticationv1.UserInfo, c, old *corev1.PersistentVolumeClaim) *admissionv1.AdmissionRequest {
	r := &admissionv1.AdmissionRequest{
		UID:       "review-1",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"},
		Namespace: "default",
		Name:      c.Name,
		Operation: op,
		UserInfo:  user,
		Object:    raw(t, c),
	}
	if old != nil {
		r.OldObject = raw(t, old)
	}
	return r
}

// patched applies the response's patch to the request's object.
func patched(t *testing.T, req *admissionv1.AdmissionRequest, resp *admissionv1.AdmissionResponse) *corev1.PersistentVolumeClaim {
	t.Helper()
	require.NotNil(t, resp.PatchType)
	assert.Equal(t, admissionv1.PatchTypeJSONPatch, *resp.PatchType)
	p, err := jsonpatch.DecodePatch(resp.Patch)
	require.NoError(t, err)
	out, err := p.Apply(req.Object.Raw)
	require.NoError(t, err)
	var c corev1.PersistentVolumeClaim
	require.NoError(t, json.Unmarshal(out, &c))
	return &c
}

func TestAdmitCreate(t *testing.T) {
	a, v, reviews := newAdmitter(t, rbac{"alice create datavolumes/source golden": true})
	user := authenticationv1.UserInfo{Username: "alice", UID: "u-1", Groups: []string{"dev", "system:authenticated"},
		Extra: map[string]authenticationv1.ExtraValue{"scopes": {"a"}}}
	// The user's own grant is overwritten.
	claim := pvc(annotations.CloneRequest, "golden/disk", annotations.CloneAuthorization, "v1.mine.sig")
	claim.UID = "" // not assigned yet at CREATE admission
	req := admissionRequest(t, admissionv1.Create, user, claim, nil)

	resp := a.Admit(context.Background(), req)
	require.True(t, resp.Allowed, "%+v", resp.Result)
	assert.JSONEq(t, `[{"op":"add","path":"/metadata/annotations/cdi-functions.io~1clone-authorization","value":"`+
		patched(t, req, resp).Annotations[annotations.CloneAuthorization]+`"}]`, string(resp.Patch))

	// The review was made with the user's whole identity; one was enough.
	require.Len(t, *reviews, 1)
	assert.Equal(t, authorizationv1.SubjectAccessReviewSpec{
		User: "alice", UID: "u-1", Groups: []string{"dev", "system:authenticated"},
		Extra: map[string]authorizationv1.ExtraValue{"scopes": {"a"}},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: "golden", Verb: "create", Group: "cdi.kubevirt.io", Resource: "datavolumes", Subresource: "source"},
	}, (*reviews)[0])

	// The stored claim (UID and creation time assigned after admission)
	// verifies; the same grant on a later claim of the name does not.
	stored := patched(t, req, resp)
	stored.UID, stored.CreationTimestamp = "uid-new", metav1.NewTime(now.Add(time.Second).Truncate(time.Second))
	g, err := v.Verify(stored.Annotations[annotations.CloneAuthorization], stored)
	require.NoError(t, err)
	assert.Equal(t, cloneauth.Grant{TargetNamespace: "default", TargetName: "clone", Source: "golden/disk", User: "alice", IssuedAt: now}, g)
	stored.CreationTimestamp = metav1.NewTime(now.Add(10 * time.Minute))
	_, err = v.Verify(stored.Annotations[annotations.CloneAuthorization], stored)
	assert.ErrorIs(t, err, cloneauth.ErrNotAuthorized)
}

func TestAdmitUpdateBindsTheUID(t *testing.T) {
	a, v, reviews := newAdmitter(t, rbac{"bob create pods golden": true})
	bob := authenticationv1.UserInfo{Username: "bob"}
	old := pvc()
	claim := pvc(annotations.CloneRequest, "golden/disk")
	req := admissionRequest(t, admissionv1.Update, bob, claim, old)

	resp := a.Admit(context.Background(), req)
	require.True(t, resp.Allowed, "%+v", resp.Result)
	assert.Len(t, *reviews, 2, "datavolumes/source refused, then pods allowed")
	stored := patched(t, req, resp)
	g, err := v.Verify(stored.Annotations[annotations.CloneAuthorization], stored)
	require.NoError(t, err)
	assert.Equal(t, "uid-1", g.TargetUID)
	assert.Equal(t, "bob", g.User)
}

func TestAdmitRefusals(t *testing.T) {
	tests := []struct {
		name     string
		req      func(t *testing.T) *admissionv1.AdmissionRequest
		wantCode int32
		wantMsg  string
		reviews  int
	}{{
		name: "no permission",
		req: func(t *testing.T) *admissionv1.AdmissionRequest {
			return admissionRequest(t, admissionv1.Create, alice, pvc(annotations.CloneRequest, "golden/disk"), nil)
		},
		wantCode: http.StatusForbidden,
		wantMsg:  "user alice may not clone from namespace golden: needs create on datavolumes/source (cdi.kubevirt.io) or create on pods in golden (bind the ClusterRole cdi.kubevirt.io:clone-sourcer in golden)",
		reviews:  2,
	}, {
		name: "the review fails",
		req: func(t *testing.T) *admissionv1.AdmissionRequest {
			return admissionRequest(t, admissionv1.Create, alice, pvc(annotations.CloneRequest, "broken/disk"), nil)
		},
		wantCode: http.StatusInternalServerError,
		wantMsg:  "could not check whether user alice may clone from namespace broken: subjectaccessreview for create on datavolumes/source.cdi.kubevirt.io: etcdserver: request timed out",
		reviews:  1,
	}, {
		name: "a user's grant without a clone",
		req: func(t *testing.T) *admissionv1.AdmissionRequest {
			return admissionRequest(t, admissionv1.Create, alice, pvc(annotations.CloneAuthorization, "v1.a.b"), nil)
		},
		wantCode: http.StatusForbidden,
		wantMsg:  "the annotation cdi-functions.io/clone-authorization is written only by cdi-functions",
	}, {
		name: "a grant edited",
		req: func(t *testing.T) *admissionv1.AdmissionRequest {
			return admissionRequest(t, admissionv1.Update, alice,
				pvc(annotations.CloneRequest, "golden/disk", annotations.CloneAuthorization, "v1.c.d"),
				pvc(annotations.CloneRequest, "golden/disk", annotations.CloneAuthorization, "v1.a.b"))
		},
		wantCode: http.StatusForbidden,
		wantMsg:  "written only by cdi-functions",
	}, {
		name: "not a claim",
		req: func(t *testing.T) *admissionv1.AdmissionRequest {
			r := admissionRequest(t, admissionv1.Create, alice, pvc(), nil)
			r.Resource.Resource = "pods"
			return r
		},
		wantCode: http.StatusBadRequest,
		wantMsg:  "admits persistentvolumeclaims only",
	}, {
		name: "garbage",
		req: func(t *testing.T) *admissionv1.AdmissionRequest {
			r := admissionRequest(t, admissionv1.Create, alice, pvc(), nil)
			r.Object.Raw = []byte("{")
			return r
		},
		wantCode: http.StatusBadRequest,
		wantMsg:  "decode the claim",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _, reviews := newAdmitter(t, rbac{})
			resp := a.Admit(context.Background(), tt.req(t))
			assert.False(t, resp.Allowed)
			assert.Nil(t, resp.Patch)
			require.NotNil(t, resp.Result)
			assert.Equal(t, tt.wantCode, resp.Result.Code)
			assert.Contains(t, resp.Result.Message, tt.wantMsg)
			assert.Len(t, *reviews, tt.reviews)
		})
	}
}

func TestAdmitUnchangedNeedsNoReviewNorPatch(t *testing.T) {
	a, _, reviews := newAdmitter(t, rbac{})
	c := pvc(annotations.CloneRequest, "golden/disk", annotations.CloneAuthorization, "v1.a.b")
	resp := a.Admit(context.Background(), admissionRequest(t, admissionv1.Update, alice, c, c))
	assert.True(t, resp.Allowed)
	assert.Nil(t, resp.Patch)
	assert.Empty(t, *reviews)

	resp = a.Admit(context.Background(), admissionRequest(t, admissionv1.Delete, alice, c, c))
	assert.True(t, resp.Allowed)
}

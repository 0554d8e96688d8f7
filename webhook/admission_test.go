package main

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/cloneauth"
)

var (
	now   = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	alice = authenticationv1.UserInfo{Username: "alice", UID: "alice-uid", Groups: []string{"dev"}}
)

// pvc is the claim default/clone with the annotations kv (key, value, …).
func pvc(kv ...string) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
		Namespace: "default", Name: "clone", UID: "uid-1", Annotations: map[string]string{},
	}}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Annotations[kv[i]] = kv[i+1]
	}
	return c
}

// fakeAccess allows the namespaces listed and fails for "broken"; it
// records the namespaces it was asked about.
type fakeAccess struct {
	allowed map[string]bool
	asked   []string
}

func (f *fakeAccess) review(_ context.Context, user authenticationv1.UserInfo, ns string) (bool, error) {
	f.asked = append(f.asked, user.Username+"@"+ns)
	if ns == "broken" {
		return false, errors.New("the server is currently unable to handle the request")
	}
	return f.allowed[ns], nil
}

func TestDecide(t *testing.T) {
	const (
		req  = annotations.CloneRequest
		auth = annotations.CloneAuthorization
	)
	deleting := func(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
		c.DeletionTimestamp = &metav1.Time{Time: now}
		return c
	}
	stamped := func(uid string) *cloneauth.Grant {
		return &cloneauth.Grant{TargetNamespace: "default", TargetName: "clone", TargetUID: uid,
			Source: "golden/disk", User: "alice", IssuedAt: now}
	}
	tests := []struct {
		name       string
		op         admissionv1.Operation
		claim, old *corev1.PersistentVolumeClaim
		wantCode   int32  // 0: allowed
		wantMsg    string // substring of the refusal
		wantGrant  *cloneauth.Grant
		wantAsked  []string
	}{{
		name:  "no clone, no grant",
		op:    admissionv1.Create,
		claim: pvc(),
	}, {
		name:     "no clone, user-written grant on create",
		op:       admissionv1.Create,
		claim:    pvc(auth, "v1.forged.sig"),
		wantCode: http.StatusForbidden,
		wantMsg:  "written only by cdi-functions",
	}, {
		name:     "no clone, grant added on update",
		op:       admissionv1.Update,
		claim:    pvc(auth, "v1.forged.sig"),
		old:      pvc(),
		wantCode: http.StatusForbidden,
		wantMsg:  "written only by cdi-functions",
	}, {
		name:  "clone request removed, grant left unchanged",
		op:    admissionv1.Update,
		claim: pvc(auth, "v1.a.b"),
		old:   pvc(req, "golden/disk", auth, "v1.a.b"),
	}, {
		name:  "no clone, grant removed",
		op:    admissionv1.Update,
		claim: pvc(),
		old:   pvc(auth, "v1.a.b"),
	}, {
		name:     "invalid clone request",
		op:       admissionv1.Create,
		claim:    pvc(req, "golden"),
		wantCode: http.StatusUnprocessableEntity,
		wantMsg:  `"golden" is not namespace/claim`,
	}, {
		name:     "clone and import",
		op:       admissionv1.Create,
		claim:    pvc(req, "golden/disk", annotations.Endpoint, "http://x/y.img"),
		wantCode: http.StatusUnprocessableEntity,
		wantMsg:  "also asks for",
	}, {
		name:      "create, allowed: a grant bound by creation time",
		op:        admissionv1.Create,
		claim:     pvc(req, "golden/disk"),
		wantGrant: stamped(""),
		wantAsked: []string{"alice@golden"},
	}, {
		name:      "create with a user-written grant, allowed: overwritten",
		op:        admissionv1.Create,
		claim:     pvc(req, "golden/disk", auth, "v1.forged.sig"),
		wantGrant: stamped(""),
		wantAsked: []string{"alice@golden"},
	}, {
		name:      "create, not allowed",
		op:        admissionv1.Create,
		claim:     pvc(req, "secrets/disk"),
		wantCode:  http.StatusForbidden,
		wantMsg:   "user alice may not clone from namespace secrets: needs create on datavolumes/source (cdi.kubevirt.io) or create on pods in secrets (bind the ClusterRole cdi.kubevirt.io:clone-sourcer in secrets)",
		wantAsked: []string{"alice@secrets"},
	}, {
		name:      "create, the review fails: refused",
		op:        admissionv1.Create,
		claim:     pvc(req, "broken/disk"),
		wantCode:  http.StatusInternalServerError,
		wantMsg:   "could not check whether user alice may clone from namespace broken: the server is currently unable",
		wantAsked: []string{"alice@broken"},
	}, {
		name:     "create with generateName",
		op:       admissionv1.Create,
		claim:    func() *corev1.PersistentVolumeClaim { c := pvc(req, "golden/disk"); c.Name = ""; return c }(),
		wantCode: http.StatusUnprocessableEntity,
		wantMsg:  "generateName is not supported",
	}, {
		name:      "clone request added on update: a grant bound by UID",
		op:        admissionv1.Update,
		claim:     pvc(req, "golden/disk"),
		old:       pvc(),
		wantGrant: stamped("uid-1"),
		wantAsked: []string{"alice@golden"},
	}, {
		name:      "clone request changed on update: checked again",
		op:        admissionv1.Update,
		claim:     pvc(req, "secrets/disk", auth, "v1.a.b"),
		old:       pvc(req, "golden/disk", auth, "v1.a.b"),
		wantCode:  http.StatusForbidden,
		wantMsg:   "may not clone from namespace secrets",
		wantAsked: []string{"alice@secrets"},
	}, {
		name:      "clone request changed on update, allowed: a new grant",
		op:        admissionv1.Update,
		claim:     pvc(req, "golden/other", auth, "v1.a.b"),
		old:       pvc(req, "golden/disk", auth, "v1.a.b"),
		wantGrant: &cloneauth.Grant{TargetNamespace: "default", TargetName: "clone", TargetUID: "uid-1", Source: "golden/other", User: "alice", IssuedAt: now},
		wantAsked: []string{"alice@golden"},
	}, {
		name:  "unchanged clone request and grant (the updater's patches): no review",
		op:    admissionv1.Update,
		claim: pvc(req, "golden/disk", auth, "v1.a.b", annotations.PodPhase, "Running"),
		old:   pvc(req, "golden/disk", auth, "v1.a.b"),
	}, {
		name:     "unchanged clone request, grant edited",
		op:       admissionv1.Update,
		claim:    pvc(req, "golden/disk", auth, "v1.other.sig"),
		old:      pvc(req, "golden/disk", auth, "v1.a.b"),
		wantCode: http.StatusForbidden,
		wantMsg:  "written only by cdi-functions",
	}, {
		name:     "unchanged clone request, grant removed",
		op:       admissionv1.Update,
		claim:    pvc(req, "golden/disk"),
		old:      pvc(req, "golden/disk", auth, "v1.a.b"),
		wantCode: http.StatusForbidden,
		wantMsg:  "written only by cdi-functions",
	}, {
		name:     "unchanged clone request, grant added",
		op:       admissionv1.Update,
		claim:    pvc(req, "golden/disk", auth, "v1.a.b"),
		old:      pvc(req, "golden/disk"),
		wantCode: http.StatusForbidden,
		wantMsg:  "written only by cdi-functions",
	}, {
		name:     "unchanged clone request, import added",
		op:       admissionv1.Update,
		claim:    pvc(req, "golden/disk", auth, "v1.a.b", annotations.Endpoint, "http://x/y.img"),
		old:      pvc(req, "golden/disk", auth, "v1.a.b"),
		wantCode: http.StatusUnprocessableEntity,
		wantMsg:  "also asks for",
	}, {
		name:  "unchanged invalid clone request on a claim being deleted: its finalizers may go",
		op:    admissionv1.Update,
		claim: deleting(pvc(req, "golden")),
		old:   pvc(req, "golden"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			access := &fakeAccess{allowed: map[string]bool{"golden": true}}
			v := decide(context.Background(), request{op: tt.op, user: alice, claim: tt.claim, old: tt.old}, now, access.review)
			assert.Equal(t, tt.wantAsked, access.asked, "reviews")
			if tt.wantCode != 0 {
				assert.False(t, v.allowed)
				assert.Equal(t, tt.wantCode, v.code)
				assert.Contains(t, v.message, tt.wantMsg)
				assert.Nil(t, v.grant)
				return
			}
			require.True(t, v.allowed, v.message)
			assert.Equal(t, tt.wantGrant, v.grant)
		})
	}
}

func TestEscapeJSONPointer(t *testing.T) {
	assert.Equal(t, "cdi-functions.io~1clone-authorization", escapeJSONPointer(annotations.CloneAuthorization))
	assert.Equal(t, "a~0b~1c", escapeJSONPointer("a~b/c"))
}

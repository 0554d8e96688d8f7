package main

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

var golden = annotations.CloneSource{Namespace: "golden", Name: "golden-pvc"}

func cloneClaim(name string, opts ...gen.ClaimOption) *corev1.PersistentVolumeClaim {
	return gen.Claim(name, append([]gen.ClaimOption{gen.WithCloneRequest(golden.String())}, opts...)...)
}

func sourceClaim(opts ...gen.ClaimOption) *corev1.PersistentVolumeClaim {
	return gen.Claim(golden.Name, append([]gen.ClaimOption{gen.InNamespace(golden.Namespace), gen.Bound()}, opts...)...)
}

func payloadOf(c *corev1.PersistentVolumeClaim) events.CloneRequestedPayload {
	return events.CloneRequestedPayload{Claim: events.Claim{Namespace: c.Namespace, Name: c.Name, UID: string(c.UID)}, Source: golden}
}

func allowed(*corev1.PersistentVolumeClaim) error { return nil }

func TestDecideTarget(t *testing.T) {
	target := cloneClaim("target")
	denied := func(*corev1.PersistentVolumeClaim) error { return errors.New("the grant names another claim") }
	tests := []struct {
		name       string
		claim      *corev1.PersistentVolumeClaim
		authorized func(*corev1.PersistentVolumeClaim) error
		want       verdict
		reason     string
		message    string
	}{
		{name: "authorized", claim: target, authorized: allowed, want: verdictClone},
		{name: "gone", claim: nil, want: verdictIgnore, message: "no longer exists"},
		{name: "re-created", claim: cloneClaim("target", gen.WithUID("other")), want: verdictIgnore, message: "re-created"},
		{name: "being deleted", claim: cloneClaim("target", gen.Deleting()), want: verdictIgnore, message: "being deleted"},
		{name: "no longer a clone", claim: gen.Claim("target"), want: verdictIgnore, message: "no longer asks"},
		{name: "finished", claim: cloneClaim("target", gen.WithPhase(annotations.PhaseSucceeded)), want: verdictIgnore, message: "already ended"},
		{name: "another source now", claim: gen.Claim("target", gen.WithCloneRequest("golden/other")), want: verdictIgnore, message: "now clones golden/other"},
		{name: "also an upload: refused", claim: cloneClaim("target", gen.WithUploadTarget()), authorized: allowed,
			want: verdictRefuse, reason: reason.InvalidRequest, message: annotations.UploadTarget},
		{name: "not authorized: refused, saying why", claim: target, authorized: denied,
			want: verdictRefuse, reason: reason.CloneNotAuthorized, message: "not cloning golden/golden-pvc: the grant names another claim"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			authorized := tc.authorized
			if authorized == nil {
				authorized = func(*corev1.PersistentVolumeClaim) error {
					t.Fatal("an obsolete event is not verified")
					return nil
				}
			}
			d := decideTarget(tc.claim, payloadOf(target), authorized)
			assert.Equal(t, tc.want, d.verdict, d.message)
			assert.Equal(t, tc.reason, d.reason)
			assert.Contains(t, d.message, tc.message)
		})
	}
}

func TestDecideSource(t *testing.T) {
	target := cloneClaim("target", gen.WithSize("10Gi"))
	tests := []struct {
		name    string
		source  *corev1.PersistentVolumeClaim
		target  *corev1.PersistentVolumeClaim
		want    verdict
		reason  string
		message string
	}{
		{name: "a plain bound claim", source: sourceClaim(), want: verdictClone},
		{name: "imported", source: sourceClaim(gen.WithEndpoint("http://x/disk.img"), gen.WithPhase(annotations.PhaseSucceeded)), want: verdictClone},
		{name: "missing: waits", source: nil, want: verdictWait, reason: reason.CloneSourceNotReady,
			message: "waiting for the source claim golden/golden-pvc to exist"},
		{name: "still importing: waits", source: sourceClaim(gen.WithEndpoint("http://x/disk.img"), gen.WithPhase(annotations.PhaseRunning)),
			want: verdictWait, reason: reason.CloneSourceNotReady, message: "to finish its own import (it is Running)"},
		{name: "import failed: waits", source: sourceClaim(gen.WithEndpoint("http://x/disk.img"), gen.WithPhase(annotations.PhaseFailed)),
			want: verdictWait, reason: reason.CloneSourceNotReady, message: "(it is Failed)"},
		{name: "upload not started: waits", source: sourceClaim(gen.WithUploadTarget()), want: verdictWait, message: "its own upload (it is Pending)"},
		{name: "not bound: waits", source: gen.Claim(golden.Name, gen.InNamespace(golden.Namespace)), want: verdictWait, message: "to be bound"},
		{name: "being deleted: waits", source: sourceClaim(gen.Deleting()), want: verdictWait, message: "being deleted"},
		{name: "larger than the target: Failed", source: sourceClaim(gen.WithSize("20Gi")), want: verdictRefuse, reason: reason.CloneTargetTooSmall,
			message: "smaller than the source claim golden/golden-pvc"},
		{name: "Block into Filesystem: Failed", source: sourceClaim(gen.WithBlock()), want: verdictRefuse, reason: reason.InvalidRequest,
			message: "cannot clone the Block claim"},
		{name: "Block into Block", source: sourceClaim(gen.WithBlock()), target: cloneClaim("target", gen.WithBlock()), want: verdictClone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tgt := tc.target
			if tgt == nil {
				tgt = target
			}
			d := decideSource(tc.source, tgt, golden)
			assert.Equal(t, tc.want, d.verdict, d.message)
			if tc.reason != "" {
				assert.Equal(t, tc.reason, d.reason)
			}
			assert.Contains(t, d.message, tc.message)
		})
	}
}

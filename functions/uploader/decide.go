package main

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

// verdict is what to do with an UploadRequested event.
type verdict int

const (
	// verdictCreate: the claim waits for an upload now; make sure its
	// upload pod and credential exist.
	verdictCreate verdict = iota
	// verdictIgnore: the event is obsolete (the claim is gone, re-created,
	// being deleted, finished, or no longer an upload target); answered
	// 202.
	verdictIgnore
	// verdictRefuse: the claim cannot be an upload target as annotated;
	// it ends Failed with an Event naming the annotation (400).
	verdictRefuse
)

// decision is a verdict with its explanation.
type decision struct {
	verdict verdict
	reason  string
	message string
}

// checkPayload verifies an event's payload names a claim fully.
func checkPayload(p events.UploadRequestedPayload) error { return p.Claim.Check() }

// decide is the uploader's whole judgement of an event p against the
// claim's current state (nil when the claim does not exist). Pure.
func decide(claim *corev1.PersistentVolumeClaim, p events.UploadRequestedPayload) decision {
	ignore := func(format string, args ...any) decision {
		return decision{verdict: verdictIgnore, message: fmt.Sprintf(format, args...)}
	}
	switch {
	case claim == nil:
		return ignore("the claim no longer exists")
	case string(claim.UID) != p.Claim.UID:
		return ignore("the claim was re-created (uid %s, the event is for %s)", claim.UID, p.Claim.UID)
	case claim.DeletionTimestamp != nil:
		return ignore("the claim is being deleted")
	}
	if _, ok := annotations.UploadRequestOf(claim.Annotations); !ok {
		return ignore("the claim is no longer an upload target")
	}
	if phase := annotations.StatusOf(claim.Annotations).Phase; annotations.Final(phase) {
		return ignore("the claim's upload already ended %s", phase)
	}
	if err := annotations.ValidateUpload(claim.Annotations); err != nil {
		return decision{verdict: verdictRefuse, reason: reason.InvalidRequest, message: "cannot upload: " + err.Error()}
	}
	return decision{verdict: verdictCreate}
}

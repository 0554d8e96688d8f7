package main

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

// verdict is what to do with an ImportRequested event.
type verdict int

const (
	// verdictCreate: the claim wants this import now; create its data pod.
	verdictCreate verdict = iota
	// verdictIgnore: the event is obsolete (the claim is gone, re-created,
	// being deleted, finished, or asks for something else now). Answered
	// 202: it is not a bad request, just a late one, and the current state
	// (if any) produces its own event.
	verdictIgnore
	// verdictRefuse: the claim asks for this, but it cannot be done as
	// asked (an invalid annotation). The claim ends Failed with an Event
	// naming the annotation; the event is answered 400.
	verdictRefuse
)

// decision is a verdict with its explanation (a log line, or the message
// of the Kubernetes Event of a refusal).
type decision struct {
	verdict verdict
	// reason is the reason of a refusal (pkg/reason).
	reason  string
	message string
}

// checkPayload verifies an event's payload names a claim fully. Failing it
// is a malformed event: nothing about it can improve by resending.
func checkPayload(p events.ImportRequestedPayload) error {
	var endpoint error
	if p.Request.Endpoint == "" {
		endpoint = errors.New("no endpoint")
	}
	return errors.Join(p.Claim.Check(), endpoint)
}

// decide is the importer's whole judgement of an event p against the
// claim's current state (nil when the claim does not exist). It does no
// I/O: the references the request names (Secret, ConfigMap) are checked
// afterwards, against the API. check validates the request (the
// annotations' own rules and the importer's egress policy).
func decide(claim *corev1.PersistentVolumeClaim, p events.ImportRequestedPayload, check func(annotations.ImportRequest) error) decision {
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
	current, ok := annotations.ImportRequestOf(claim.Annotations)
	if !ok {
		return ignore("the claim no longer asks for an import")
	}
	if current != p.Request {
		return ignore("the claim's request changed since the event (an event for the current request follows)")
	}
	if phase := annotations.StatusOf(claim.Annotations).Phase; annotations.Final(phase) {
		return ignore("the claim's import already ended %s", phase)
	}
	if err := check(current); err != nil {
		return decision{verdict: verdictRefuse, reason: reason.InvalidRequest, message: "cannot import: " + err.Error()}
	}
	return decision{verdict: verdictCreate}
}

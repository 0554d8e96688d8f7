package main

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
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
	// verdictReject: the claim asks for this, but it cannot be done as
	// asked (a bad URL or content type). Answered 400 and shown on the
	// claim as a Kubernetes Event.
	verdictReject
)

// Reasons of the Kubernetes Events the importer records on claims (all
// warnings: the importer reports only what stops an import from starting).
const (
	// ReasonInvalidRequest: the endpoint or content type is not supported.
	ReasonInvalidRequest = "ErrInvalidRequest"
	// ReasonMissingSecret: the Secret the claim names does not exist.
	ReasonMissingSecret = "ErrMissingSecret"
	// ReasonMissingCertConfigMap: the CA ConfigMap the claim names does
	// not exist.
	ReasonMissingCertConfigMap = "ErrMissingCertConfigMap"
	// ReasonCreatePod: the API server refused the data pod (e.g. Pod
	// Security admission forbids privileged pods in the namespace, or a
	// quota is exhausted).
	ReasonCreatePod = "ErrCreatePod"
	// ReasonPodNameConflict: a pod that is not a data pod holds the data
	// pod's name.
	ReasonPodNameConflict = "ErrPodNameConflict"
)

// Outcomes of an event, the "outcome" label of the importer's metric.
const (
	outcomeCreated   = "created"
	outcomeExists    = "exists"
	outcomeObsolete  = "obsolete"
	outcomeRejected  = "rejected"
	outcomeMalformed = "malformed"
	outcomeRetry     = "retry"
)

// decision is a verdict with its explanation (a log line, or the message
// of the Kubernetes Event of a rejection).
type decision struct {
	verdict verdict
	// reason is the Event reason of a rejection.
	reason  string
	message string
}

// checkPayload verifies an event's payload names a claim fully. Failing it
// is a malformed event: nothing about it can improve by resending.
func checkPayload(p events.ImportRequestedPayload) error {
	var missing []error
	if p.Claim.Namespace == "" {
		missing = append(missing, errors.New("no claim namespace"))
	}
	if p.Claim.Name == "" {
		missing = append(missing, errors.New("no claim name"))
	}
	if p.Claim.UID == "" {
		missing = append(missing, errors.New("no claim uid"))
	}
	if p.Request.Endpoint == "" {
		missing = append(missing, errors.New("no endpoint"))
	}
	return errors.Join(missing...)
}

// decide is the importer's whole judgement of an event p against the
// claim's current state (nil when the claim does not exist). It does no
// I/O: the references the request names (Secret, ConfigMap) are checked
// afterwards, against the API.
func decide(claim *corev1.PersistentVolumeClaim, p events.ImportRequestedPayload) decision {
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
	if err := current.Validate(); err != nil {
		return decision{verdict: verdictReject, reason: ReasonInvalidRequest, message: "cannot import: " + err.Error()}
	}
	return decision{verdict: verdictCreate}
}

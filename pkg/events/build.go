package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// ClaimSource is the CloudEvents source of events about a claim.
func ClaimSource(c Claim) string {
	return fmt.Sprintf("/apis/v1/namespaces/%s/persistentvolumeclaims/%s", c.Namespace, c.Name)
}

// ID derives a deterministic event id from the parts that make an intent:
// the same parts always give the same id.
func ID(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		b, _ := json.Marshal(p) // parts are plain values
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// New builds an event of type typ about claim c with the given id and
// payload.
func New(typ, id string, c Claim, payload any, now time.Time) (cloudevents.Event, error) {
	e := cloudevents.NewEvent()
	e.SetType(typ)
	e.SetID(id)
	e.SetSource(ClaimSource(c))
	e.SetSubject(c.Namespace + "/" + c.Name)
	e.SetTime(now)
	e.SetExtension(ExtensionNamespace, c.Namespace)
	e.SetExtension(ExtensionName, c.Name)
	if c.UID != "" {
		e.SetExtension(ExtensionUID, c.UID)
	}
	if err := e.SetData(cloudevents.ApplicationJSON, payload); err != nil {
		return e, fmt.Errorf("encode %s payload: %w", typ, err)
	}
	return e, nil
}

// NewImportRequested builds the event for an import a claim asks for. Its
// id depends only on the claim's identity and its request, so every resend
// of the same request carries the same id.
func NewImportRequested(p ImportRequestedPayload, now time.Time) (cloudevents.Event, error) {
	return New(ImportRequested, ID(ImportRequested, p.Claim.UID, p.Request), p.Claim, p, now)
}

// NewUploadRequested builds the event for an upload slot a claim asks
// for; like NewImportRequested, its id depends only on the claim's
// identity and its request.
func NewUploadRequested(p UploadRequestedPayload, now time.Time) (cloudevents.Event, error) {
	return New(UploadRequested, ID(UploadRequested, p.Claim.UID, p.Request), p.Claim, p, now)
}

// NewCloneRequested builds the event for a clone a claim asks for; like
// NewImportRequested, its id depends only on the claim's identity and
// its request.
func NewCloneRequested(p CloneRequestedPayload, now time.Time) (cloudevents.Event, error) {
	return New(CloneRequested, ID(CloneRequested, p.Claim.UID, p.Source), p.Claim, p, now)
}

// NewDataPodPhase builds a phase event. The id covers the pod, phase,
// reason, restart count and readiness: a repeated observation of the same
// state carries the same id.
func NewDataPodPhase(p DataPodPhasePayload, now time.Time) (cloudevents.Event, error) {
	parts := []any{DataPodPhase, p.Claim.UID, p.Pod.UID, p.Pod.Name, p.Phase, p.Reason, p.Restarts}
	if p.Ready != nil {
		parts = append(parts, *p.Ready)
	}
	return New(DataPodPhase, ID(parts...), p.Claim, p, now)
}

// NewDataPodProgress builds a progress event; its id covers the pod and
// the bytes done.
func NewDataPodProgress(p DataPodProgressPayload, now time.Time) (cloudevents.Event, error) {
	return New(DataPodProgress, ID(DataPodProgress, p.Claim.UID, p.Pod.UID, p.Pod.Name, p.Stage, p.Done), p.Claim, p, now)
}

// NewClaimDeleting builds the event asking for the data pods of a claim
// being deleted to go; its id covers the claim and the pods.
func NewClaimDeleting(p ClaimDeletingPayload, now time.Time) (cloudevents.Event, error) {
	return New(ClaimDeleting, ID(ClaimDeleting, p.Claim.UID, p.Pods), p.Claim, p, now)
}

// Decode reads the payload of e into out, checking the type first.
func Decode(e cloudevents.Event, typ string, out any) error {
	if e.Type() != typ {
		return fmt.Errorf("event %s has type %q, want %q", e.ID(), e.Type(), typ)
	}
	if err := e.DataAs(out); err != nil {
		return fmt.Errorf("decode %s payload of event %s: %w", typ, e.ID(), err)
	}
	return nil
}

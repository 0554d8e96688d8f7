// Package refusal is how a function that creates data pods (the importer,
// the uploader) tells a claim's status that it refused a request or that
// the request waits: a DataPodPhase event to the updater, which stays the
// one writer of status annotations. The Warning Event on the claim is the
// function's own (pkg/record).
package refusal

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/record"
)

// Sender delivers a refusal's phase event to the updater.
type Sender func(ctx context.Context, p events.DataPodPhasePayload) error

// Phase is the phase event for a refused request: Failed for good when
// reason.Final says no later event can fix it, else Pending with the
// reason (the work starts when the event source sends the request again).
// It names the data pod the claim would have (podName), without a UID: no
// pod sent it.
func Phase(claim *corev1.PersistentVolumeClaim, podName, r, message string) events.DataPodPhasePayload {
	p := events.DataPodPhasePayload{
		Claim:   events.Claim{Namespace: claim.Namespace, Name: claim.Name, UID: string(claim.UID)},
		Pod:     events.Pod{Name: podName},
		Phase:   events.PodPending,
		Reason:  r,
		Message: record.Truncate(message, record.MaxMessage),
	}
	if reason.Final(r) {
		p.Phase, p.Permanent = events.PodFailed, true
	}
	return p
}

// NewSender sends phase events to sink with the function's token (and
// the sink's own, sinkToken, when it is a Broker with OIDC; may be nil);
// with no sink it does nothing (the Warning Event on the claim remains).
func NewSender(sink string, token, sinkToken func() (string, error)) (Sender, error) {
	if sink == "" {
		return func(context.Context, events.DataPodPhasePayload) error { return nil }, nil
	}
	s, err := events.NewSender(func() events.Routes { return events.Routes{Sink: sink} }, events.SenderOptions{Token: token, SinkToken: sinkToken})
	if err != nil {
		return nil, fmt.Errorf("status sender: %w", err)
	}
	return func(ctx context.Context, p events.DataPodPhasePayload) error {
		e, err := events.NewDataPodPhase(p, time.Now())
		if err != nil {
			return err
		}
		return s.Send(ctx, e)
	}, nil
}

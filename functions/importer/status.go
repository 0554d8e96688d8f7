package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// statusSender tells the updater (through the same sink the data pods
// use) about a request the importer refused, so that the claim's status
// says so: the updater stays the one writer of status annotations.
type statusSender func(ctx context.Context, p events.DataPodPhasePayload) error

// finalReasons are the refusals that no later event can fix without the
// user changing the claim: the claim ends Failed. Others (a missing
// Secret, a pod name taken) leave it Pending with the reason, and the
// import starts when the event source sends the request again.
var finalReasons = map[string]bool{
	ReasonInvalidRequest: true,
	ReasonCreatePod:      true,
}

// refusal is the phase event for a refused request.
func refusal(claim *corev1.PersistentVolumeClaim, reason, message string) events.DataPodPhasePayload {
	p := events.DataPodPhasePayload{
		Claim:   events.Claim{Namespace: claim.Namespace, Name: claim.Name, UID: string(claim.UID)},
		Pod:     events.Pod{Name: datapod.ImportPodName(claim.Name)},
		Phase:   events.PodPending,
		Reason:  reason,
		Message: message,
	}
	if finalReasons[reason] {
		p.Phase, p.Permanent = events.PodFailed, true
	}
	return p
}

// newStatusSender sends phase events to sink; with no sink it does
// nothing (the Warning Event on the claim remains).
func newStatusSender(sink string) (statusSender, error) {
	if sink == "" {
		return func(context.Context, events.DataPodPhasePayload) error { return nil }, nil
	}
	s, err := events.NewSender(func() events.Routes { return events.Routes{Sink: sink} }, events.SenderOptions{})
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

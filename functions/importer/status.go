package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/record"
)

// statusSender tells the updater (through the same sink the data pods
// use) about a request the importer refused or that waits, so that the
// claim's status says so: the updater stays the one writer of status
// annotations.
type statusSender func(ctx context.Context, p events.DataPodPhasePayload) error

// refusal is the phase event for a refused request: Failed for good when
// reason.Final says no later event can fix it, else Pending with the
// reason (the import starts when the event source sends the request
// again). It names the data pod the claim would have, without a UID: no
// pod of the importer's sent it.
func refusal(claim *corev1.PersistentVolumeClaim, r, message string) events.DataPodPhasePayload {
	p := events.DataPodPhasePayload{
		Claim:   events.Claim{Namespace: claim.Namespace, Name: claim.Name, UID: string(claim.UID)},
		Pod:     events.Pod{Name: datapod.ImportPodName(claim.Name)},
		Phase:   events.PodPending,
		Reason:  r,
		Message: record.Truncate(message, record.MaxMessage),
	}
	if reason.Final(r) {
		p.Phase, p.Permanent = events.PodFailed, true
	}
	return p
}

// newStatusSender sends phase events to sink with the importer's token;
// with no sink it does nothing (the Warning Event on the claim remains).
func newStatusSender(sink string, token func() (string, error)) (statusSender, error) {
	if sink == "" {
		return func(context.Context, events.DataPodPhasePayload) error { return nil }, nil
	}
	s, err := events.NewSender(func() events.Routes { return events.Routes{Sink: sink} }, events.SenderOptions{Token: token})
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

package main

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/record"
)

// record creates the Kubernetes Events of a status transition on the
// claim. Events are best effort, like client-go's recorder: a failure is
// logged, never retried (the transition is written; a resend of the event
// is no transition any more). Each is an occurrence of the resourceVersion
// the transition was decided on, so a racing duplicate is one Event.
func (u *updater) record(ctx context.Context, claim *corev1.PersistentVolumeClaim, kubeEvents []record.Event) {
	for _, ke := range kubeEvents {
		ke.Occurrence = claim.ResourceVersion
		if err := u.recorder.Record(ctx, claim, ke); err != nil {
			logging.FromContext(ctx).Warnw("could not record an Event on the claim", zap.String("reason", ke.Reason), zap.Error(err))
			continue
		}
		inc(ctx, u.metrics.kubeEvents, attribute.String("reason", ke.Reason))
	}
}

package refusal

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/record"
)

// Tell records a Warning Event with reason r on claim and reports the
// refusal (or wait) to the updater through send, naming the data pod
// podName the claim would have. A failed Event is logged (the status
// still says it); a failed report is returned, so the CloudEvent is
// answered with a retryable error and the refusal is not lost.
func Tell(ctx context.Context, rec *record.Recorder, send Sender, claim *corev1.PersistentVolumeClaim, podName, r, message string) error {
	if err := rec.Record(ctx, claim, record.Event{Type: corev1.EventTypeWarning, Reason: r, Message: message}); err != nil {
		logging.FromContext(ctx).Warnw("could not record event", zap.Error(err))
	}
	if err := send(ctx, Phase(claim, podName, r, message)); err != nil {
		return fmt.Errorf("report %s of claim %s/%s: %w", r, claim.Namespace, claim.Name, err)
	}
	return nil
}

// Refuse is Tell for a request that cannot be done as asked: once told,
// it returns the permanent error (400) that answers the CloudEvent.
func Refuse(ctx context.Context, rec *record.Recorder, send Sender, claim *corev1.PersistentVolumeClaim, podName, r, message string) error {
	if err := Tell(ctx, rec, send, claim, podName, r, message); err != nil {
		return err
	}
	return function.Permanent(errors.New(r + ": " + message))
}

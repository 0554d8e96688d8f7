package main

import (
	"context"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// Who records the Events, as Kubernetes shows it.
const (
	// eventComponent is the Event's source component.
	eventComponent = "cdi-updater"
	// reportingController names the updater in the Event's reporting
	// fields.
	reportingController = "cdi-functions.io/updater"
)

// record creates the Kubernetes Events of a status transition on the
// claim. Events are best effort, like client-go's recorder: a failure is
// logged, never retried (the transition is written; a resend of the event
// is no transition any more). Their names are deterministic, so a racing
// duplicate is refused by the API server as AlreadyExists.
func (u *updater) record(ctx context.Context, claim *corev1.PersistentVolumeClaim, kubeEvents []kubeEvent) {
	for _, ke := range kubeEvents {
		ev := newEvent(claim, ke, u.now())
		_, err := u.kube.CoreV1().Events(claim.Namespace).Create(ctx, ev, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			logging.FromContext(ctx).Warnw("could not record an Event on the claim", zap.String("reason", ke.Reason), zap.Error(err))
			continue
		}
		u.metrics.kubeEvents.WithLabelValues(ke.Reason).Inc()
	}
}

// newEvent builds the core/v1 Event ke about claim at now. Its name is
// "<claim>.<16 hex>", derived from the claim's UID, the resourceVersion the
// transition was decided on and what the Event says: the same transition
// always gets the same name.
func newEvent(claim *corev1.PersistentVolumeClaim, ke kubeEvent, now time.Time) *corev1.Event {
	suffix := "." + events.ID(string(claim.UID), claim.ResourceVersion, ke.Reason, ke.Message)[:16]
	prefix := claim.Name
	if room := validation.DNS1123SubdomainMaxLength - len(suffix); len(prefix) > room {
		// Each dot-separated label must end alphanumeric.
		prefix = strings.TrimRight(prefix[:room], "-.")
	}
	t := metav1.NewTime(now)
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: prefix + suffix, Namespace: claim.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1", Kind: "PersistentVolumeClaim",
			Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID,
		},
		Type:                ke.Type,
		Reason:              ke.Reason,
		Message:             truncate(ke.Message, maxMessage),
		Source:              corev1.EventSource{Component: eventComponent},
		FirstTimestamp:      t,
		LastTimestamp:       t,
		Count:               1,
		ReportingController: reportingController,
		ReportingInstance:   eventComponent,
	}
}

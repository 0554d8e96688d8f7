// Package record writes Kubernetes Events on claims: the one recorder of
// cdi-functions (the importer's refusals, the updater's transitions).
//
// Unlike client-go's broadcasting recorders it writes synchronously, so a
// function knows an Event exists before it answers, and a test sees every
// API call it makes. Event names are derived from what the Event says, so
// a resent CloudEvent never piles up Events: the same problem seen again
// bumps the count of one Event, and the same transition recorded twice is
// one Event.
package record

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// MaxMessage bounds an Event's message, in bytes (events.k8s.io's limit).
const MaxMessage = 1024

// Event is what to record.
type Event struct {
	// Type is corev1.EventTypeNormal or corev1.EventTypeWarning.
	Type string
	// Reason is a reason of pkg/reason.
	Reason string
	// Message is the human detail; cut to MaxMessage.
	Message string
	// Occurrence, when set, makes the Event one of its own occurrence
	// (a status transition: the resourceVersion it was decided on), so
	// recording it again changes nothing. When empty, the same reason and
	// message on the claim is one Event whose count grows.
	Occurrence string
}

// Recorder records Events on claims as one component.
type Recorder struct {
	kube kubernetes.Interface
	// Component is the Event's source component ("cdi-importer").
	component string
	// controller and instance fill the Event's reporting fields.
	controller, instance string
	now                  func() time.Time
}

// New returns a Recorder for component (e.g. "cdi-importer"), reporting
// as controller "cdi-functions.io/<name>" from instance (this replica's
// pod name).
func New(kube kubernetes.Interface, component, controller, instance string, now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{kube: kube, component: component, controller: controller, instance: instance, now: now}
}

// Record writes e on claim. Its error is for logging: an Event is a
// courtesy to the user, not state, and callers never fail an event for it.
func (r *Recorder) Record(ctx context.Context, claim *corev1.PersistentVolumeClaim, e Event) error {
	msg := Truncate(e.Message, MaxMessage)
	name := Name(claim, e.Occurrence, e.Reason, msg)
	now := metav1.NewTime(r.now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: claim.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1", Kind: "PersistentVolumeClaim",
			Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID,
		},
		Type: e.Type, Reason: e.Reason, Message: msg,
		Source:         corev1.EventSource{Component: r.component},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: r.controller, ReportingInstance: r.instance,
	}
	api := r.kube.CoreV1().Events(claim.Namespace)
	_, err := api.Create(ctx, ev, metav1.CreateOptions{})
	switch {
	case err == nil:
		return nil
	case !apierrors.IsAlreadyExists(err):
		return fmt.Errorf("record event %s on claim %s/%s: %w", e.Reason, claim.Namespace, claim.Name, err)
	case e.Occurrence != "":
		return nil // the same transition, recorded already
	}
	old, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get event %s/%s to count it: %w", claim.Namespace, name, err)
	}
	old.Count++
	old.LastTimestamp = now
	if _, err := api.Update(ctx, old, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("count event %s/%s: %w", claim.Namespace, name, err)
	}
	return nil
}

// Name is the Event name "<claim>.<16 hex>", the hex derived from the
// claim's UID, the occurrence, the reason and the message; the claim name
// is cut so that the whole is a valid object name.
func Name(claim *corev1.PersistentVolumeClaim, occurrence, reason, message string) string {
	suffix := "." + events.ID(string(claim.UID), occurrence, reason, message)[:16]
	prefix := claim.Name
	if room := validation.DNS1123SubdomainMaxLength - len(suffix); len(prefix) > room {
		prefix = strings.TrimRight(prefix[:room], "-.")
	}
	return prefix + suffix
}

// Truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

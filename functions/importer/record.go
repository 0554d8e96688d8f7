package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Event source names of the importer's Kubernetes Events.
const (
	eventComponent  = "cdi-importer"
	eventController = "cdi-functions.io/importer"
	// maxEventMessage is the longest message kept (events.k8s.io's limit).
	maxEventMessage = 1024
)

// recorder writes Warning Events on claims, synchronously, so a handler
// knows they were written before it answers. An Event's name is derived
// from the claim's uid, the reason and the message: the same problem seen
// again (the event source re-emits unfinished work) bumps the count of one
// Event instead of piling up new ones.
type recorder struct {
	kube     kubernetes.Interface
	instance string // the reporting instance: this replica's pod name
	now      func() time.Time
}

// warn records a Warning Event with reason and message on claim. Failing to
// record is returned for logging; it never changes the answer to the
// CloudEvent (the Event is a courtesy to the user, not state).
func (r *recorder) warn(ctx context.Context, claim *corev1.PersistentVolumeClaim, reason, message string) error {
	if len(message) > maxEventMessage {
		message = message[:maxEventMessage-3] + "..."
	}
	now := metav1.NewTime(r.now())
	name := eventName(claim, reason, message)
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: claim.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1", Kind: "PersistentVolumeClaim",
			Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID,
			ResourceVersion: claim.ResourceVersion,
		},
		Reason: reason, Message: message, Type: corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: eventComponent},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: eventController, ReportingInstance: r.instance,
	}
	events := r.kube.CoreV1().Events(claim.Namespace)
	_, err := events.Create(ctx, ev, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("record event %s on claim %s/%s: %w", reason, claim.Namespace, claim.Name, err)
		}
		return nil
	}
	old, err := events.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get event %s/%s to count it: %w", claim.Namespace, name, err)
	}
	old.Count++
	old.LastTimestamp = now
	if _, err := events.Update(ctx, old, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("count event %s/%s: %w", claim.Namespace, name, err)
	}
	return nil
}

// eventName is "<claim name>.<16 hex digits>", the hex from the claim's
// uid, the reason and the message; the claim name is cut so the whole is a
// valid object name.
func eventName(claim *corev1.PersistentVolumeClaim, reason, message string) string {
	sum := sha256.Sum256([]byte(string(claim.UID) + "\x00" + reason + "\x00" + message))
	prefix := claim.Name
	if len(prefix) > 200 {
		prefix = prefix[:200]
	}
	return prefix + "." + hex.EncodeToString(sum[:8])
}

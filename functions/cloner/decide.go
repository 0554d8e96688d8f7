package main

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

// verdict is what to do with a CloneRequested event.
type verdict int

const (
	// verdictClone: make sure the clone's pods, Service and Secrets exist.
	verdictClone verdict = iota
	// verdictIgnore: the event is obsolete (the target is gone,
	// re-created, being deleted, finished, or asks for another source);
	// answered 202.
	verdictIgnore
	// verdictRefuse: the clone cannot be done as asked; the target ends
	// Failed with an Event (400).
	verdictRefuse
	// verdictWait: the source is not ready; the target stays Pending with
	// an Event saying what it waits for, and the event source asks again
	// with backoff (202).
	verdictWait
)

// decision is a verdict with its explanation.
type decision struct {
	verdict verdict
	reason  string
	message string
}

// checkPayload verifies an event's payload names a target claim and a
// source fully.
func checkPayload(p events.CloneRequestedPayload) error {
	if err := p.Claim.Check(); err != nil {
		return err
	}
	if p.Source.Namespace == "" || p.Source.Name == "" {
		return fmt.Errorf("no source claim (%q)", p.Source.String())
	}
	return nil
}

// decideTarget judges the target claim (nil when it does not exist)
// against the event; authorized is the verification of its clone
// authorization (nil: valid). Pure.
func decideTarget(target *corev1.PersistentVolumeClaim, p events.CloneRequestedPayload, authorized func(*corev1.PersistentVolumeClaim) error) decision {
	ignore := func(format string, args ...any) decision {
		return decision{verdict: verdictIgnore, message: fmt.Sprintf(format, args...)}
	}
	switch {
	case target == nil:
		return ignore("the claim no longer exists")
	case string(target.UID) != p.Claim.UID:
		return ignore("the claim was re-created (uid %s, the event is for %s)", target.UID, p.Claim.UID)
	case target.DeletionTimestamp != nil:
		return ignore("the claim is being deleted")
	}
	src, ok, err := annotations.CloneSourceOf(target.Annotations)
	switch {
	case !ok:
		return ignore("the claim no longer asks for a clone")
	case annotations.Final(annotations.StatusOf(target.Annotations).Phase):
		return ignore("the claim's clone already ended %s", annotations.StatusOf(target.Annotations).Phase)
	case err == nil && src != p.Source:
		return ignore("the claim now clones %s, the event is for %s", src, p.Source)
	}
	if err := annotations.ValidateClone(target.Annotations); err != nil {
		return decision{verdict: verdictRefuse, reason: reason.InvalidRequest, message: "cannot clone: " + err.Error()}
	}
	if err := authorized(target); err != nil {
		return decision{verdict: verdictRefuse, reason: reason.CloneNotAuthorized,
			message: fmt.Sprintf("not cloning %s: %v", src, err)}
	}
	return decision{verdict: verdictClone}
}

// decideSource judges the source claim (nil when it does not exist) of
// an authorized clone into target. Pure.
func decideSource(source, target *corev1.PersistentVolumeClaim, src annotations.CloneSource) decision {
	wait := func(format string, args ...any) decision {
		return decision{verdict: verdictWait, reason: reason.CloneSourceNotReady, message: fmt.Sprintf(format, args...)}
	}
	switch {
	case source == nil:
		return wait("waiting for the source claim %s to exist", src)
	case source.DeletionTimestamp != nil:
		return wait("the source claim %s is being deleted", src)
	case source.Status.Phase != corev1.ClaimBound:
		return wait("waiting for the source claim %s to be bound (it is %s)", src, orDefault(string(source.Status.Phase), "Pending"))
	}
	if working(source) {
		phase := orDefault(annotations.StatusOf(source.Annotations).Phase, annotations.PhasePending)
		return wait("waiting for the source claim %s to finish its own %s (it is %s)", src, work(source), phase)
	}
	if mode(source) != mode(target) {
		return decision{verdict: verdictRefuse, reason: reason.InvalidRequest,
			message: fmt.Sprintf("cannot clone the %s claim %s into a %s claim", mode(source), src, mode(target))}
	}
	have, want := size(target), size(source)
	if have >= 0 && want >= 0 && have < want {
		return decision{verdict: verdictRefuse, reason: reason.CloneTargetTooSmall,
			message: fmt.Sprintf("the claim (%d bytes) is smaller than the source claim %s (%d bytes)", have, src, want)}
	}
	return decision{verdict: verdictClone}
}

// working reports whether source is being filled by cdi-functions: it
// asks for an import, an upload or a clone that has not Succeeded. A claim
// that asks for none holds what its user put there.
func working(source *corev1.PersistentVolumeClaim) bool {
	return work(source) != "" && annotations.StatusOf(source.Annotations).Phase != annotations.PhaseSucceeded
}

// work names the work source asks for ("import", "upload", "clone"), or "".
func work(c *corev1.PersistentVolumeClaim) string {
	if _, ok := annotations.UploadRequestOf(c.Annotations); ok {
		return "upload"
	}
	if _, ok := annotations.ImportRequestOf(c.Annotations); ok {
		return "import"
	}
	if _, ok, _ := annotations.CloneSourceOf(c.Annotations); ok {
		return "clone"
	}
	return ""
}

// mode is the claim's volume mode, Filesystem by default.
func mode(c *corev1.PersistentVolumeClaim) corev1.PersistentVolumeMode {
	if c.Spec.VolumeMode != nil && *c.Spec.VolumeMode != "" {
		return *c.Spec.VolumeMode
	}
	return corev1.PersistentVolumeFilesystem
}

// size is the claim's requested size (else its capacity), -1 when it
// names none. Requests are compared, not capacities: a provisioner may
// round a claim up, and the clone target checks the bytes themselves.
func size(c *corev1.PersistentVolumeClaim) int64 {
	if q, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		return q.Value()
	}
	if q, ok := c.Status.Capacity[corev1.ResourceStorage]; ok {
		return q.Value()
	}
	return -1
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

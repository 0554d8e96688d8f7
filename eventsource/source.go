package main

import (
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// Intent is one event the state of a claim calls for.
type Intent struct {
	// Subject names what the event reports on, for the ledger of sent
	// events: at most one event per subject is outstanding, and an event
	// with the same id as the last one delivered for its subject is not
	// sent again before ResendAfter.
	Subject string
	// Event is the event, with a deterministic id: the same state always
	// gives the same id.
	Event cloudevents.Event
	// Resend is when the same event is due again while the state still
	// calls for it; zero means never.
	Resend Backoff
}

// Backoff is how an event that the state keeps calling for is sent
// again: After its first send, then after twice that, and so on, up to
// Max. A zero After means never.
type Backoff struct {
	After, Max time.Duration
}

// delay is the wait after the sends-th send.
func (b Backoff) delay(sends int) time.Duration {
	d := b.After
	for i := 1; i < sends && d < b.Max; i++ {
		d *= 2
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	return d
}

// importSubject, podSubject and deletingSubject are the ledger subjects
// of the kinds of intents.
func importSubject(claimUID string) string   { return "import/" + claimUID }
func uploadSubject(claimUID string) string   { return "upload/" + claimUID }
func cloneSubject(claimUID string) string    { return "clone/" + claimUID }
func podSubject(podUID string) string        { return "pod/" + podUID }
func deletingSubject(claimUID string) string { return "deleting/" + claimUID }

// claimRef names claim in events.
func claimRef(claim *corev1.PersistentVolumeClaim) events.Claim {
	return events.Claim{Namespace: claim.Namespace, Name: claim.Name, UID: string(claim.UID)}
}

// finished reports whether the claim's work is over (its phase annotation
// is Succeeded or Failed). The only status annotation decisions read.
func finished(claim *corev1.PersistentVolumeClaim) bool {
	return annotations.Final(claim.Annotations[annotations.PodPhase])
}

// ownPods keeps the data pods that fill this claim (and not an earlier
// claim of the same name).
func ownPods(claim *corev1.PersistentVolumeClaim, pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if datapod.Owns(claim, p) {
			out = append(out, p)
		}
	}
	return out
}

// deletingIntent decides whether claim needs a ClaimDeleting event: it is
// being deleted and has data pods that are not, and have not ended. Such a
// pod keeps the claim (the pvc-protection finalizer) until it ends, which a
// slow, stuck or crash-looping import never does; an ended pod keeps
// nothing and goes with the claim.
func deletingIntent(claim *corev1.PersistentVolumeClaim, pods []*corev1.Pod) (events.ClaimDeletingPayload, bool) {
	if claim.DeletionTimestamp == nil {
		return events.ClaimDeletingPayload{}, false
	}
	p := events.ClaimDeletingPayload{Claim: claimRef(claim)}
	for _, pod := range ownPods(claim, pods) {
		ended := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
		if pod.DeletionTimestamp == nil && !ended {
			p.Pods = append(p.Pods, events.Pod{Name: pod.Name, UID: string(pod.UID)})
		}
	}
	return p, len(p.Pods) > 0
}

// spent reports whether a data pod ended without doing the work and will
// never run again: pod phase Failed (evicted, deadline exceeded, node
// lost) without a permanent failure of the data mover. Such a pod does
// not stand in the way of a new import.
func spent(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed && !podPhase(pod, 0).Permanent
}

// importIntent decides whether claim needs an ImportRequested event: it
// asks for an import (the endpoint annotation), is not being deleted, its
// work is not finished, and none of its data pods is alive (missing, or
// only spent ones); a claim that is also an upload target is the
// uploader's (see uploadIntent). The decision reads nothing but the request
// annotations, the finished flag and the data pods, so the status
// annotations the updater writes can never trigger a new request.
func importIntent(claim *corev1.PersistentVolumeClaim, pods []*corev1.Pod) (events.ImportRequestedPayload, bool) {
	req, ok := annotations.ImportRequestOf(claim.Annotations)
	if _, upload := claim.Annotations[annotations.UploadTarget]; !ok || upload || !wantsPod(claim, pods) {
		return events.ImportRequestedPayload{}, false
	}
	return events.ImportRequestedPayload{Claim: claimRef(claim), Request: req}, true
}

// uploadIntent decides whether claim needs an UploadRequested event, by
// the rules of importIntent: it is an upload target (a claim that is
// also annotated for an import is one too: the uploader refuses it, with
// an Event naming both annotations), not being deleted, not finished,
// and without a live data pod.
func uploadIntent(claim *corev1.PersistentVolumeClaim, pods []*corev1.Pod) (events.UploadRequestedPayload, bool) {
	req, ok := annotations.UploadRequestOf(claim.Annotations)
	if !ok || !wantsPod(claim, pods) {
		return events.UploadRequestedPayload{}, false
	}
	return events.UploadRequestedPayload{Claim: claimRef(claim), Request: req}, true
}

// cloneIntent decides whether claim needs a CloneRequested event: it
// asks for a clone of a claim it names well, is not being deleted and its
// clone is not finished. Unlike an import's, the request stands while the
// clone's pods live (it is resent with backoff): the cloner re-derives
// what is missing, such as the source pod of an interrupted clone, which
// lives in another namespace and is not the claim's. A value that names no
// claim is refused at admission by the clone webhook; without the webhook
// the claim gets no event (and no clone).
func cloneIntent(claim *corev1.PersistentVolumeClaim) (events.CloneRequestedPayload, bool) {
	src, ok, err := annotations.CloneSourceOf(claim.Annotations)
	if !ok || err != nil || claim.DeletionTimestamp != nil || finished(claim) {
		return events.CloneRequestedPayload{}, false
	}
	return events.CloneRequestedPayload{Claim: claimRef(claim), Source: src}, true
}

// wantsPod reports whether a claim that asks for work needs a data pod:
// it is not being deleted, its work is not finished, and none of its
// data pods is alive (missing, or only spent ones).
func wantsPod(claim *corev1.PersistentVolumeClaim, pods []*corev1.Pod) bool {
	if claim.DeletionTimestamp != nil || finished(claim) {
		return false
	}
	for _, p := range ownPods(claim, pods) {
		if !spent(p) {
			return false
		}
	}
	return true
}

// phaseIntents derives a DataPodPhase payload for each data pod of the
// claim, unless the claim is finished or going away (nobody needs news
// about it any more). A pod that restarted maxRestarts times ends the work
// (see podPhase).
func phaseIntents(claim *corev1.PersistentVolumeClaim, pods []*corev1.Pod, maxRestarts int32) []events.DataPodPhasePayload {
	if claim.DeletionTimestamp != nil || finished(claim) {
		return nil
	}
	var out []events.DataPodPhasePayload
	for _, pod := range ownPods(claim, pods) {
		p := podPhase(pod, maxRestarts)
		p.Claim = claimRef(claim)
		out = append(out, p)
	}
	return out
}

// Policy is what the derivation of intents takes from configuration.
type Policy struct {
	// Resend is the backoff of import requests (and of deletion requests)
	// while the state still calls for them.
	Resend Backoff
	// MaxRestarts is how many restarts of a data pod end its work Failed
	// (ErrTooManyRestarts); zero means no limit.
	MaxRestarts int32
}

// Intents derives every event the state of claim and the data pods in its
// namespace call for. Import and deletion requests are due again with
// backoff while the state lasts; phase observations are never repeated.
func Intents(claim *corev1.PersistentVolumeClaim, pods []*corev1.Pod, policy Policy, now time.Time) ([]Intent, error) {
	var out []Intent
	if p, ok := importIntent(claim, pods); ok {
		e, err := events.NewImportRequested(p, now)
		if err != nil {
			return nil, fmt.Errorf("import request of claim %s/%s: %w", claim.Namespace, claim.Name, err)
		}
		out = append(out, Intent{Subject: importSubject(p.Claim.UID), Event: e, Resend: policy.Resend})
	}
	if p, ok := uploadIntent(claim, pods); ok {
		e, err := events.NewUploadRequested(p, now)
		if err != nil {
			return nil, fmt.Errorf("upload request of claim %s/%s: %w", claim.Namespace, claim.Name, err)
		}
		out = append(out, Intent{Subject: uploadSubject(p.Claim.UID), Event: e, Resend: policy.Resend})
	}
	if p, ok := cloneIntent(claim); ok {
		e, err := events.NewCloneRequested(p, now)
		if err != nil {
			return nil, fmt.Errorf("clone request of claim %s/%s: %w", claim.Namespace, claim.Name, err)
		}
		out = append(out, Intent{Subject: cloneSubject(p.Claim.UID), Event: e, Resend: policy.Resend})
	}
	if p, ok := deletingIntent(claim, pods); ok {
		e, err := events.NewClaimDeleting(p, now)
		if err != nil {
			return nil, fmt.Errorf("deletion of claim %s/%s: %w", claim.Namespace, claim.Name, err)
		}
		out = append(out, Intent{Subject: deletingSubject(p.Claim.UID), Event: e, Resend: policy.Resend})
	}
	for _, p := range phaseIntents(claim, pods, policy.MaxRestarts) {
		e, err := events.NewDataPodPhase(p, now)
		if err != nil {
			return nil, fmt.Errorf("phase of data pod %s/%s: %w", claim.Namespace, p.Pod.Name, err)
		}
		out = append(out, Intent{Subject: podSubject(p.Pod.UID), Event: e})
	}
	return out, nil
}

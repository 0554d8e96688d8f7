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
	// ResendAfter is how long after it was sent the same event is due
	// again while the state still calls for it; zero means never.
	ResendAfter time.Duration
}

// importSubject and podSubject are the ledger subjects of the two kinds
// of intents.
func importSubject(claimUID string) string { return "import/" + claimUID }
func podSubject(podUID string) string      { return "pod/" + podUID }

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
// claim of the same name): those labelled with its UID.
func ownPods(claim *corev1.PersistentVolumeClaim, pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Labels[datapod.LabelClaimUID] == string(claim.UID) {
			out = append(out, p)
		}
	}
	return out
}

// spent reports whether a data pod ended without doing the work and will
// never run again: pod phase Failed (evicted, deadline exceeded, node
// lost) without a permanent failure of the data mover. Such a pod does
// not stand in the way of a new import.
func spent(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed && !podPhase(pod).Permanent
}

// importIntent decides whether claim needs an ImportRequested event: it
// asks for an import (the endpoint annotation), is not being deleted, its
// work is not finished, and none of its data pods is alive (missing, or
// only spent ones). The decision reads nothing but the request
// annotations, the finished flag and the data pods, so the status
// annotations the updater writes can never trigger a new request.
func importIntent(claim *corev1.PersistentVolumeClaim, pods []*corev1.Pod) (events.ImportRequestedPayload, bool) {
	req, ok := annotations.ImportRequestOf(claim.Annotations)
	if !ok || claim.DeletionTimestamp != nil || finished(claim) {
		return events.ImportRequestedPayload{}, false
	}
	for _, p := range ownPods(claim, pods) {
		if !spent(p) {
			return events.ImportRequestedPayload{}, false
		}
	}
	return events.ImportRequestedPayload{Claim: claimRef(claim), Request: req}, true
}

// phaseIntents derives a DataPodPhase payload for each data pod of the
// claim, unless the claim is finished or going away (nobody needs news
// about it any more).
func phaseIntents(claim *corev1.PersistentVolumeClaim, pods []*corev1.Pod) []events.DataPodPhasePayload {
	if claim.DeletionTimestamp != nil || finished(claim) {
		return nil
	}
	var out []events.DataPodPhasePayload
	for _, pod := range ownPods(claim, pods) {
		p := podPhase(pod)
		p.Claim = claimRef(claim)
		out = append(out, p)
	}
	return out
}

// Intents derives every event the state of claim and the data pods in its
// namespace call for. Import requests are due again every resend while
// the state lasts; phase observations are never repeated.
func Intents(claim *corev1.PersistentVolumeClaim, pods []*corev1.Pod, resend time.Duration, now time.Time) ([]Intent, error) {
	var out []Intent
	if p, ok := importIntent(claim, pods); ok {
		e, err := events.NewImportRequested(p, now)
		if err != nil {
			return nil, fmt.Errorf("import request of claim %s/%s: %w", claim.Namespace, claim.Name, err)
		}
		out = append(out, Intent{Subject: importSubject(p.Claim.UID), Event: e, ResendAfter: resend})
	}
	for _, p := range phaseIntents(claim, pods) {
		e, err := events.NewDataPodPhase(p, now)
		if err != nil {
			return nil, fmt.Errorf("phase of data pod %s/%s: %w", claim.Namespace, p.Pod.Name, err)
		}
		out = append(out, Intent{Subject: podSubject(p.Pod.UID), Event: e})
	}
	return out, nil
}

package main

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

// The pod owner cache: which claim a data pod (by UID) belongs to.
const (
	ownersCacheSize = 8192
	ownersTTL       = time.Minute
)

// Sender kinds, the "sender" attribute of cdi.updater.events.refused.
const (
	senderEventSource = "eventsource"
	senderImporter    = "importer"
	senderUploader    = "uploader"
	senderCloner      = "cloner"
	senderDataPod     = "datapod"
	senderOther       = "other"
)

// authorize decides whether the sender id may send m (the sender is
// authenticated already). The rules (docs/security.md):
//
//   - the event source may send DataPodPhase about any claim: it derives
//     them from the pods' status, which only the kubelet writes;
//   - the importer, the uploader and the cloner may send the DataPodPhase of their
//     refusals (Pending or Failed with a refusal reason, naming no pod
//     UID);
//   - a data pod may send DataPodProgress and its own result (Running,
//     Succeeded, Failed) about the claim it fills, and only as itself: the
//     token's pod name and UID must be the pod the event names, and that
//     pod must belong to the claim with the event's UID. A final phase is
//     checked against the pod as it is now (the claim's current attempt),
//     so a late event of a deleted pod cannot finish the claim;
//   - nobody else may send anything.
func (u *updater) authorize(ctx context.Context, id auth.Identity, m message) error {
	switch {
	case id.Is(u.senders.eventSource):
		if m.typ != events.DataPodPhase {
			return u.refuse(ctx, senderEventSource, "the event source sends no %s", m.typ)
		}
		return nil
	case id.Is(u.senders.importer), id.Is(u.senders.uploader), id.Is(u.senders.cloner):
		c := m.change
		if m.typ == events.DataPodPhase && m.pod.UID == "" && reason.Refusal(c.reason) && c.ready == nil &&
			(c.phase == events.PodPending || (c.phase == events.PodFailed && c.permanent)) {
			return nil
		}
		kind := senderImporter
		switch {
		case id.Is(u.senders.uploader):
			kind = senderUploader
		case id.Is(u.senders.cloner):
			kind = senderCloner
		}
		return u.refuse(ctx, kind, "the %s may only report its refusals", kind)
	case id.Pod != nil:
		return u.authorizeDataPod(ctx, id, m)
	}
	return u.refuse(ctx, senderOther, "%s may not report on data pods", id)
}

// authorizeDataPod applies the data pod rule of authorize.
func (u *updater) authorizeDataPod(ctx context.Context, id auth.Identity, m message) error {
	switch {
	case id.ServiceAccount == nil || id.ServiceAccount.Namespace != m.claim.Namespace:
		return u.refuse(ctx, senderDataPod, "pod %s may not report on claims of namespace %s", id.Pod.Name, m.claim.Namespace)
	case m.pod.Name != id.Pod.Name || m.pod.UID != id.Pod.UID:
		return u.refuse(ctx, senderDataPod, "the event names pod %s (uid %s) but was sent by pod %s (uid %s)",
			m.pod.Name, m.pod.UID, id.Pod.Name, id.Pod.UID)
	case m.typ == events.DataPodPhase && m.change.phase != events.PodRunning &&
		m.change.phase != events.PodSucceeded && m.change.phase != events.PodFailed:
		return u.refuse(ctx, senderDataPod, "a data pod reports no %s phase", m.change.phase)
	}
	final := m.change.final()
	if !final {
		if owner, ok := u.owners.Get(id.Pod.UID); ok {
			if owner.(string) != m.claim.UID {
				return u.refuse(ctx, senderDataPod, "pod %s does not fill the claim with uid %s", id.Pod.Name, m.claim.UID)
			}
			return nil
		}
	}
	pod, err := u.kube.CoreV1().Pods(m.claim.Namespace).Get(ctx, id.Pod.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return u.refuse(ctx, senderDataPod, "pod %s no longer exists: it is not the claim's current data pod", id.Pod.Name)
	case err != nil:
		return fmt.Errorf("get data pod %s/%s to authorize its event: %w", m.claim.Namespace, id.Pod.Name, err)
	case string(pod.UID) != id.Pod.UID:
		return u.refuse(ctx, senderDataPod, "pod %s (uid %s) is not the claim's current data pod (uid %s)", id.Pod.Name, id.Pod.UID, pod.UID)
	case !datapod.OwnedBy(types.UID(m.claim.UID), pod):
		return u.refuse(ctx, senderDataPod, "pod %s does not fill the claim with uid %s", id.Pod.Name, m.claim.UID)
	}
	u.owners.Add(id.Pod.UID, m.claim.UID, ownersTTL)
	return nil
}

// refuse counts a refusal and returns its error (403).
func (u *updater) refuse(ctx context.Context, kind, format string, args ...any) error {
	inc(ctx, u.metrics.refused, attribute.String("sender", kind))
	return auth.Forbidden(format, args...)
}

package main

import (
	"context"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
)

// claimDeleting deletes the data pods of a claim that is being deleted:
// the pvc-protection finalizer keeps a claim while a pod uses it, and a
// data pod that never ends (a slow source, a crash loop, a pod that never
// started) would keep it Terminating forever. Only the event source may
// ask, and only what is true is done: the claim must exist with the
// event's UID and be marked for deletion, and only pods that belong to it
// are deleted.
func (u *updater) claimDeleting(ctx context.Context, id auth.Identity, e cloudevents.Event) error {
	if !id.Is(u.senders.eventSource) {
		kind := senderOther
		switch {
		case id.Is(u.senders.importer):
			kind = senderImporter
		case id.Is(u.senders.uploader):
			kind = senderUploader
		case id.Is(u.senders.cloner):
			kind = senderCloner
		case id.Pod != nil:
			kind = senderDataPod
		}
		return u.refuse(ctx, kind, "%s may not ask for the data pods of a claim to be deleted", id)
	}
	var p events.ClaimDeletingPayload
	if err := events.Decode(e, events.ClaimDeleting, &p); err != nil {
		return function.Permanent(err)
	}
	if p.Claim.Namespace == "" || p.Claim.Name == "" || p.Claim.UID == "" {
		return function.Permanent(fmt.Errorf("event %s names no claim fully", e.ID()))
	}
	log := logging.FromContext(ctx).With(zap.String("claim", p.Claim.Namespace+"/"+p.Claim.Name))
	claim, err := u.kube.CoreV1().PersistentVolumeClaims(p.Claim.Namespace).Get(ctx, p.Claim.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		inc(ctx, u.metrics.ignored, attribute.String("why", ignoredClaimGone))
		return nil // gone: garbage collection takes its pods
	case err != nil:
		return fmt.Errorf("get claim %s/%s: %w", p.Claim.Namespace, p.Claim.Name, err)
	case string(claim.UID) != p.Claim.UID:
		inc(ctx, u.metrics.ignored, attribute.String("why", ignoredOtherClaim))
		return nil
	case claim.DeletionTimestamp == nil:
		log.Warn("asked to delete the data pods of a claim that is not being deleted; nothing done")
		inc(ctx, u.metrics.ignored, attribute.String("why", ignoredNoChange))
		return nil
	}
	if err := u.cleanupCloneSource(ctx, claim); err != nil {
		return err
	}
	pods := u.kube.CoreV1().Pods(claim.Namespace)
	for _, ref := range p.Pods {
		pod, err := pods.Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return fmt.Errorf("get data pod %s/%s: %w", claim.Namespace, ref.Name, err)
		case pod.DeletionTimestamp != nil:
			continue
		case !datapod.Owns(claim, pod):
			log.Warnw("not deleting a pod that does not belong to the claim", zap.String("pod", ref.Name))
			inc(ctx, u.metrics.ignored, attribute.String("why", ignoredPodNotOwned))
			continue
		}
		if err := u.deletePod(ctx, pod); err != nil {
			return err
		}
		log.Infow("deleted the data pod of a claim being deleted", zap.String("pod", pod.Name))
	}
	return nil
}

package main

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
)

// cleanup deletes the data pod podName of claim (the import pod of the
// claim when the event named none), but only a pod that belongs to the
// claim: an event can name any pod, and a pod of another claim (or of an
// earlier claim of the same name) must never be deleted. A pod already gone
// is fine. With onlyFailed, only a pod whose phase is Failed is deleted.
func (u *updater) cleanup(ctx context.Context, claim *corev1.PersistentVolumeClaim, podName string, onlyFailed bool) error {
	if podName == "" {
		podName = datapod.ImportPodName(claim.Name)
	}
	log := logging.FromContext(ctx).With(zap.String("pod", claim.Namespace+"/"+podName))
	pods := u.kube.CoreV1().Pods(claim.Namespace)
	pod, err := pods.Get(ctx, podName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get data pod %s/%s: %w", claim.Namespace, podName, err)
	case pod.DeletionTimestamp != nil:
		return nil
	case onlyFailed && pod.Status.Phase != corev1.PodFailed:
		return nil
	case !datapod.Owns(claim, pod):
		log.Warnw("not deleting a pod that does not belong to the claim", zap.String("claimUID", string(claim.UID)))
		inc(ctx, u.metrics.ignored, attribute.String("why", ignoredPodNotOwned))
		return nil
	}
	return u.deletePod(ctx, pod)
}

// cleanupCloneSource deletes the clone source pod of a clone claim (in
// the source claim's namespace), but only the pod labelled as sending to
// this claim: the source pod has no owner that would take it, and would
// otherwise dial a target that is gone.
func (u *updater) cleanupCloneSource(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	src, ok, err := annotations.CloneSourceOf(claim.Annotations)
	if !ok || err != nil {
		return nil
	}
	name := datapod.CloneSourcePodName(string(claim.UID))
	pod, err := u.kube.CoreV1().Pods(src.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get clone source pod %s/%s: %w", src.Namespace, name, err)
	case pod.DeletionTimestamp != nil:
		return nil
	case !datapod.IsCloneSourceOf(pod, string(claim.UID)):
		logging.FromContext(ctx).Warnw("not deleting a pod that is not the claim's clone source", zap.String("pod", src.Namespace+"/"+name))
		inc(ctx, u.metrics.ignored, attribute.String("why", ignoredPodNotOwned))
		return nil
	}
	return u.deletePod(ctx, pod)
}

// deletePod deletes exactly pod: the UID precondition keeps a pod
// re-created under the same name in between.
func (u *updater) deletePod(ctx context.Context, pod *corev1.Pod) error {
	err := u.kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil
	case err != nil:
		return fmt.Errorf("delete data pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	inc(ctx, u.metrics.podsDeleted)
	logging.FromContext(ctx).Debugw("deleted the data pod", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.String("phase", string(pod.Status.Phase)))
	return nil
}

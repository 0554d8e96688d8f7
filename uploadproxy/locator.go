package main

import (
	"context"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// Locator is the uploadproxy.Locator of a cluster: it reads claims and
// upload pods from informers' caches (the handler asks again and again
// while a pod starts) and asks the API server only when the cache does not
// know the token's claim, which may just have been created.
type Locator struct {
	// Claims lists the cluster's claims.
	Claims corev1listers.PersistentVolumeClaimLister
	// Pods lists the upload data pods (an informer filtered to them).
	Pods corev1listers.PodLister
	// Kube confirms a claim the cache does not know (or knows under
	// another UID).
	Kube kubernetes.Interface
	// Authority returns the current upload pod authority, nil while it is
	// not loaded.
	Authority func() *podcred.Authority
}

var _ uploadproxy.Locator = (*Locator)(nil)

// Locate implements uploadproxy.Locator.
func (l *Locator) Locate(ctx context.Context, scope uploadtoken.Scope) (uploadproxy.Backend, error) {
	claim, err := l.claim(ctx, scope)
	if err != nil {
		return uploadproxy.Backend{}, err
	}
	if err := checkClaim(claim, scope); err != nil {
		return uploadproxy.Backend{}, err
	}
	name := datapod.UploadPodName(scope.Name)
	pod, err := l.Pods.Pods(scope.Namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return uploadproxy.Backend{}, fmt.Errorf("%w: no pod %s/%s yet", uploadproxy.ErrNotReady, scope.Namespace, name)
	}
	if err != nil {
		return uploadproxy.Backend{}, fmt.Errorf("get pod %s/%s: %w", scope.Namespace, name, err)
	}
	addr, err := podAddress(pod, scope.UID)
	if err != nil {
		return uploadproxy.Backend{}, err
	}
	a := l.Authority()
	if a == nil {
		return uploadproxy.Backend{}, fmt.Errorf("%w: the upload pod authority is not loaded", uploadproxy.ErrNotReady)
	}
	return uploadproxy.Backend{URL: "https://" + addr, Credential: a.Credential(scope.UID), TLS: a.Client(scope.UID)}, nil
}

// claim returns the token's claim, nil when it does not exist. The cache
// answers when it holds the claim with the token's UID; otherwise (a claim
// created a moment ago, or re-created) the API server decides.
func (l *Locator) claim(ctx context.Context, scope uploadtoken.Scope) (*corev1.PersistentVolumeClaim, error) {
	c, err := l.Claims.PersistentVolumeClaims(scope.Namespace).Get(scope.Name)
	switch {
	case err == nil && string(c.UID) == scope.UID:
		return c, nil
	case err != nil && !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("list claim %s/%s: %w", scope.Namespace, scope.Name, err)
	}
	c, err = l.Kube.CoreV1().PersistentVolumeClaims(scope.Namespace).Get(ctx, scope.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get claim %s/%s: %w", scope.Namespace, scope.Name, err)
	}
	return c, nil
}

// checkClaim decides whether claim (nil: none) may take the upload the
// token scope opens.
func checkClaim(claim *corev1.PersistentVolumeClaim, scope uploadtoken.Scope) error {
	switch {
	case claim == nil:
		return fmt.Errorf("%w: claim %s/%s does not exist", uploadproxy.ErrNoTarget, scope.Namespace, scope.Name)
	case string(claim.UID) != scope.UID:
		return fmt.Errorf("%w: claim %s/%s has UID %s, the token %s", uploadproxy.ErrStale, scope.Namespace, scope.Name, claim.UID, scope.UID)
	case claim.DeletionTimestamp != nil:
		return fmt.Errorf("%w: claim %s/%s is being deleted", uploadproxy.ErrNoTarget, scope.Namespace, scope.Name)
	}
	if _, ok := claim.Annotations[annotations.UploadTarget]; !ok {
		return fmt.Errorf("%w: claim %s/%s has no %s annotation", uploadproxy.ErrNoTarget, scope.Namespace, scope.Name, annotations.UploadTarget)
	}
	if claim.Annotations[annotations.PodPhase] == annotations.PhaseSucceeded {
		return fmt.Errorf("%w: claim %s/%s", uploadproxy.ErrDone, scope.Namespace, scope.Name)
	}
	return nil
}

// podAddress is the host:port where pod, the upload pod of the claim with
// UID claimUID, listens, or an error wrapping uploadproxy.ErrNotReady
// while it cannot take the upload.
func podAddress(pod *corev1.Pod, claimUID string) (string, error) {
	key := pod.Namespace + "/" + pod.Name
	switch {
	case !datapod.IsDataPod(pod, datapod.KindUpload):
		return "", fmt.Errorf("%w: pod %s is not an upload data pod", uploadproxy.ErrNotReady, key)
	case !datapod.OwnedBy(types.UID(claimUID), pod):
		return "", fmt.Errorf("%w: pod %s is not the upload pod of the claim with UID %s", uploadproxy.ErrNotReady, key, claimUID)
	case pod.DeletionTimestamp != nil:
		return "", fmt.Errorf("%w: pod %s is being deleted", uploadproxy.ErrNotReady, key)
	case !podReady(pod):
		return "", fmt.Errorf("%w: pod %s is not Ready", uploadproxy.ErrNotReady, key)
	case pod.Status.PodIP == "":
		return "", fmt.Errorf("%w: pod %s has no IP", uploadproxy.ErrNotReady, key)
	}
	return net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(datapod.UploadPort)), nil
}

// podReady reports the pod's Ready condition.
func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

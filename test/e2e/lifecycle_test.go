//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testNamespaceDeletion: deleting a namespace with a running pod completes.
func testNamespaceDeletion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := newNamespace(t)
	_, err := e2e.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "some-data"},
		Data:       map[string]string{"k": "v"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = e2e.client.CoreV1().Pods(ns).Create(ctx, volcheckPod("sleeper", "serve", ":8080", "x"), metav1.CreateOptions{})
	require.NoError(t, err)
	waitRunningReady(t, ns, "sleeper")

	require.NoError(t, e2e.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
	waitGone(t, 2*time.Minute, "namespace "+ns, func(ctx context.Context) error {
		_, err := e2e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return err
	})
}

// testGarbageCollection: a pod owned by a ConfigMap goes away with it.
func testGarbageCollection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := newNamespace(t)
	owner, err := e2e.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "owner"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	pod := volcheckPod("owned", "serve", ":8080", "x")
	pod.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID,
	}}
	_, err = e2e.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	waitRunningReady(t, ns, "owned")

	background := metav1.DeletePropagationBackground
	require.NoError(t, e2e.client.CoreV1().ConfigMaps(ns).Delete(ctx, owner.Name,
		metav1.DeleteOptions{PropagationPolicy: &background}))
	waitGone(t, 90*time.Second, "owned pod", func(ctx context.Context) error {
		_, err := e2e.client.CoreV1().Pods(ns).Get(ctx, "owned", metav1.GetOptions{})
		return err
	})
}

// testKoApply deploys a manifest with a ko:// image the way config/ is
// deployed (ko apply, kubectl underneath) and waits for the pod to succeed.
func testKoApply(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	out, err := runKo("apply", "-f", "test/e2e/testdata/koapply", "--", "--namespace="+ns)
	require.NoError(t, err)
	require.Contains(t, out, "pod/ko-applied created")
	var pod *corev1.Pod
	eventually(t, podTimeout, "ko-applied pod to finish", func(ctx context.Context) (bool, error) {
		p, err := e2e.client.CoreV1().Pods(ns).Get(ctx, "ko-applied", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = p
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed, nil
	})
	require.Equal(t, corev1.PodSucceeded, pod.Status.Phase, describe(pod))
	require.Contains(t, pod.Spec.Containers[0].Image, "127.0.0.1:5001/cdi-functions/")
	require.Contains(t, podLogs(t, ns, "ko-applied"), "resolved kubernetes.default.svc.cluster.local")
}

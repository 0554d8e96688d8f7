//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
)

// blockStorageClass provisions Block volumes on the local cluster (loop
// devices; hack/cluster).
const blockStorageClass = "local-block"

// restrictedNamespace is a test namespace that enforces the restricted
// Pod Security level, as the import scenarios run in.
func restrictedNamespace(t *testing.T) string {
	t.Helper()
	return labelledNamespace(t, "restricted")
}

// labelledNamespace is a test namespace enforcing the Pod Security level.
func labelledNamespace(t *testing.T, level string) string {
	t.Helper()
	ns := newNamespace(t)
	ctx := context.Background()
	n, err := e2e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.NoError(t, err)
	n.Labels["pod-security.kubernetes.io/enforce"] = level
	_, err = e2e.client.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{})
	require.NoError(t, err)
	return ns
}

// asBlock makes a claim a Block volume of the local cluster.
func asBlock() claimOpt {
	return func(c *corev1.PersistentVolumeClaim) {
		m := corev1.PersistentVolumeBlock
		c.Spec.VolumeMode = &m
		c.Spec.StorageClassName = ptrTo(blockStorageClass)
	}
}

// limitCPU gives ns a LimitRange with a maximum CPU per container (and so
// a default limit for containers that set none).
func limitCPU(t *testing.T, ns, max string) {
	t.Helper()
	_, err := e2e.client.CoreV1().LimitRanges(ns).Create(context.Background(), &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "cpu"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer,
			Max:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(max)},
		}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// requireBlockSucceeded checks a Block claim succeeded and its device
// holds want, then zeros.
func requireBlockSucceeded(t *testing.T, c *corev1.PersistentVolumeClaim, want []byte) {
	t.Helper()
	require.Equal(t, annotations.PhaseSucceeded, c.Annotations[annotations.PodPhase], "claim annotations: %v", c.Annotations)
	pv, err := e2e.client.CoreV1().PersistentVolumes().Get(context.Background(), c.Spec.VolumeName, metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, pv.Spec.Local, "block volumes are local PersistentVolumes")
	f, err := os.Open(pv.Spec.Local.Path)
	require.NoError(t, err)
	defer f.Close()
	got := make([]byte, len(want))
	_, err = io.ReadFull(f, got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "the device differs from qemu-img convert of the source")
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		require.True(t, allZero(buf[:n]), "the device is zeros after the image")
		if err == io.EOF {
			return
		}
		require.NoError(t, err)
	}
}

// waitProgress waits until the claim's import reports progress, so that a
// test acts in the middle of it.
func waitProgress(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, importTimeout, "progress of "+name, func(ctx context.Context) (bool, error) {
		c, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		p := c.Annotations[annotations.Progress]
		return p != "" && p != "0.00%", nil
	})
}

// dataPodsOf lists the data pods in ns.
func dataPodsOf(t *testing.T, ns string) []corev1.Pod {
	t.Helper()
	l, err := e2e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: datapod.LabelKind})
	require.NoError(t, err)
	return l.Items
}

// waitEvent waits for an Event with reason on the object named name (any
// object when empty) whose message contains text, and returns its message.
func waitEvent(t *testing.T, ns, name, reason, text string) string {
	t.Helper()
	var msg string
	opts := metav1.ListOptions{}
	if name != "" {
		opts.FieldSelector = "involvedObject.name=" + name
	}
	eventually(t, importTimeout, reason+" event on "+name, func(ctx context.Context) (bool, error) {
		evs, err := e2e.client.CoreV1().Events(ns).List(ctx, opts)
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == reason && bytes.Contains([]byte(e.Message), []byte(text)) {
				msg = e.Message
				return true, nil
			}
		}
		return false, nil
	})
	return msg
}

// timeSince is time.Since, rounded for messages.
func timeSince(t0 time.Time) time.Duration { return time.Since(t0).Round(100 * time.Millisecond) }

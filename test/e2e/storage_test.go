//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testPVCSharedBetweenPods: a claim on the default StorageClass binds, a
// privileged pod writes a file to it and a second pod reads it back.
func testPVCSharedBetweenPods(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := newNamespace(t)
	claims := e2e.client.CoreV1().PersistentVolumeClaims(ns)
	_, err := claims.Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")},
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	var pvc *corev1.PersistentVolumeClaim
	eventually(t, time.Minute, "claim bound", func(ctx context.Context) (bool, error) {
		pvc, err = claims.Get(ctx, "data", metav1.GetOptions{})
		return err == nil && pvc.Status.Phase == corev1.ClaimBound, err
	})
	require.NotNil(t, pvc.Spec.StorageClassName, "default StorageClass applied")
	assert.Equal(t, "standard", *pvc.Spec.StorageClassName)
	t.Cleanup(func() {
		// The claim's volume is deleted with the namespace (reclaimPolicy Delete).
		_ = claims.Delete(context.Background(), "data", metav1.DeleteOptions{})
	})

	token := fmt.Sprintf("written by %s at %d", t.Name(), time.Now().UnixNano())
	writer := withClaim(volcheckPod("writer", "write", "/data/hello.txt", token), "data")
	writer.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
		Privileged: ptrTo(true),
		RunAsUser:  ptrTo[int64](0),
	}
	logs := runToCompletion(t, ns, writer)
	assert.Contains(t, logs, "wrote")

	reader := withClaim(volcheckPod("reader", "read", "/data/hello.txt", token), "data")
	reader.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptrTo[int64](0)}
	logs = runToCompletion(t, ns, reader)
	assert.Contains(t, logs, token)
}

// withClaim mounts the claim at /data in the pod's container.
func withClaim(p *corev1.Pod, claim string) *corev1.Pod {
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{
		Name: "data",
		VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
		},
	})
	c := &p.Spec.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
	return p
}

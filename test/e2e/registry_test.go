//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testMirroredRegistryNames: containerd sends public registry names to the
// loopback registry. An image pushed there as library/volcheck runs as
// docker.io/library/volcheck; an image that is not there fails to pull from
// the loopback registry (and the guard counters, checked last, prove no
// lookup of the public registry was even attempted).
func testMirroredRegistryNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := newNamespace(t)
	_, err := runKoEnv([]string{"KO_DOCKER_REPO=127.0.0.1:5001/library/volcheck"},
		"build", "--bare", "--tags", "mirrored", "./test/e2e/cmd/volcheck")
	require.NoError(t, err)

	pod := volcheckPod("from-docker-io", "resolve", "kubernetes.default.svc.cluster.local")
	pod.Spec.Containers[0].Image = "docker.io/library/volcheck:mirrored"
	logs := runToCompletion(t, ns, pod)
	assert.Contains(t, logs, "resolved kubernetes.default.svc.cluster.local")

	absent := volcheckPod("absent", "resolve", "x")
	absent.Spec.Containers[0].Image = "quay.io/cdi-functions/not-pushed:v0"
	_, err = e2e.client.CoreV1().Pods(ns).Create(ctx, absent, metav1.CreateOptions{})
	require.NoError(t, err)
	eventually(t, podTimeout, "pull of an absent image to fail", func(ctx context.Context) (bool, error) {
		p, err := e2e.client.CoreV1().Pods(ns).Get(ctx, "absent", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
				return true, nil
			}
		}
		return false, nil
	})

	// The loopback registry saw both pulls, with the registry name they were for.
	b, err := os.ReadFile(filepath.Join(stateDir(), "logs", "registry.log"))
	require.NoError(t, err)
	assert.Contains(t, string(b), "/v2/library/volcheck/manifests/mirrored?ns=docker.io")
	assert.Contains(t, string(b), "/v2/cdi-functions/not-pushed/manifests/v0?ns=quay.io")
}

//go:build e2e

package e2e

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// wantVersion is the Kubernetes version hack/cluster builds.
const wantVersion = "v1.35.4"

func testNodeReady(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v, err := e2e.client.Discovery().ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, wantVersion, v.GitVersion, "API server version")

	nodes, err := e2e.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 1, "nodes")
	n := nodes.Items[0]
	assert.Equal(t, wantVersion, n.Status.NodeInfo.KubeletVersion, "kubelet version")
	ready := false
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	assert.True(t, ready, "node %s Ready", n.Name)
	assert.Contains(t, n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.244.0.1"},
		"the node's address is the bridge gateway")
}

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// testServiceByDNSName: a pod reaches another through a Service, by the
// Service's DNS name (CoreDNS + kube-proxy).
func testServiceByDNSName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := newNamespace(t)
	token := "hello from " + ns

	server := volcheckPod("echo", "serve", ":8080", token)
	server.Labels = map[string]string{"app": "echo"}
	server.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
	server.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1,
	}
	_, err := e2e.client.CoreV1().Pods(ns).Create(ctx, server, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = e2e.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "echo"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitRunningReady(t, ns, "echo")

	url := fmt.Sprintf("http://echo.%s.svc.cluster.local/", ns)
	logs := runToCompletion(t, ns, volcheckPod("client", "get", url, token))
	assert.Contains(t, logs, token)
}

// testOutsideNamesNotResolved: CoreDNS answers cluster names and refuses
// everything else (it has no forward plugin).
func testOutsideNamesNotResolved(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	logs := runToCompletion(t, ns, volcheckPod("resolve", "resolve",
		"kubernetes.default.svc.cluster.local", "example.com", "registry.k8s.io"))
	assert.Contains(t, logs, "resolved kubernetes.default.svc.cluster.local: [10.96.0.1]")
	assert.Contains(t, logs, "error example.com:")
	assert.Contains(t, logs, "error registry.k8s.io:")
}

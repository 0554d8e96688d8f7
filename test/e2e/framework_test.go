//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// podTimeout bounds how long a test pod may take to finish.
const podTimeout = 2 * time.Minute

// newNamespace creates a namespace for one test and deletes it afterwards
// (without waiting).
func newNamespace(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	ns, err := e2e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-", Labels: map[string]string{"cdi-functions.io/e2e": "true"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err, "create namespace")
	t.Cleanup(func() {
		_ = e2e.client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	waitForServiceAccount(t, ns.Name)
	return ns.Name
}

// waitForServiceAccount waits for the namespace's default ServiceAccount,
// without which pods are refused.
func waitForServiceAccount(t *testing.T, ns string) {
	t.Helper()
	eventually(t, 30*time.Second, "default ServiceAccount in "+ns, func(ctx context.Context) (bool, error) {
		_, err := e2e.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// eventually polls cond every 250 ms until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, cond)
	require.NoError(t, err, "waiting for %s", what)
}

// volcheckPod is a pod running the volcheck probe with args.
func volcheckPod(name string, args ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptrTo[int64](1),
			Containers: []corev1.Container{{
				Name:            "volcheck",
				Image:           e2e.image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Args:            args,
			}},
		},
	}
}

// runToCompletion creates pod in ns, waits for it to succeed and returns its
// log. A failed pod fails the test with its log and status.
func runToCompletion(t *testing.T, ns string, pod *corev1.Pod) string {
	t.Helper()
	ctx := context.Background()
	pods := e2e.client.CoreV1().Pods(ns)
	_, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err, "create pod %s", pod.Name)
	var last *corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, podTimeout, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed, nil
	})
	logs := podLogs(t, ns, pod.Name)
	require.NoError(t, err, "pod %s did not finish: %s\nlog:\n%s", pod.Name, describe(last), logs)
	require.Equal(t, corev1.PodSucceeded, last.Status.Phase, "pod %s: %s\nlog:\n%s", pod.Name, describe(last), logs)
	return logs
}

// waitRunningReady waits until the pod is Running with all containers ready.
func waitRunningReady(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, podTimeout, "pod "+name+" ready", func(ctx context.Context) (bool, error) {
		p, err := e2e.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return false, fmt.Errorf("pod %s ended: %s", name, describe(p))
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

// podLogs returns the log of the pod's first container ("" if unavailable).
func podLogs(t *testing.T, ns, name string) string {
	t.Helper()
	b, err := e2e.client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(context.Background())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// describe summarises a pod's status for failure messages.
func describe(p *corev1.Pod) string {
	if p == nil {
		return "(never seen)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s reason=%q message=%q", p.Status.Phase, p.Status.Reason, p.Status.Message)
	for _, c := range p.Status.ContainerStatuses {
		switch {
		case c.State.Waiting != nil:
			fmt.Fprintf(&b, " %s: waiting %s %s", c.Name, c.State.Waiting.Reason, c.State.Waiting.Message)
		case c.State.Terminated != nil:
			fmt.Fprintf(&b, " %s: exit %d %s", c.Name, c.State.Terminated.ExitCode, c.State.Terminated.Reason)
		}
	}
	return b.String()
}

// waitGone waits until get reports NotFound.
func waitGone(t *testing.T, timeout time.Duration, what string, get func(ctx context.Context) error) {
	t.Helper()
	eventually(t, timeout, what+" to be gone", func(ctx context.Context) (bool, error) {
		err := get(ctx)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// ptrTo returns a pointer to v.
func ptrTo[T any](v T) *T { return &v }

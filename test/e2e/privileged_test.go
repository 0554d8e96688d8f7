//go:build e2e

package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// testPrivilegedSetting: with DATAMOVER_PRIVILEGED=true on the importer
// (the 2018 design), data pods run privileged as root in a namespace that
// allows it, and the import succeeds. The setting is put back afterwards.
func testPrivilegedSetting(t *testing.T, im *images) {
	setImporterEnv(t, "DATAMOVER_PRIVILEGED", "true")
	t.Cleanup(func() { setImporterEnv(t, "DATAMOVER_PRIVILEGED", "false") })

	ns := labelledNamespace(t, "privileged")
	var mu sync.Mutex
	var seen []*corev1.Pod
	w, err := e2e.client.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{LabelSelector: datapod.LabelKind})
	require.NoError(t, err)
	defer w.Stop()
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
				mu.Lock()
				seen = append(seen, p)
				mu.Unlock()
			}
		}
	}()
	srv := serve(t, sourcetest.Config{Data: im.file(t, "disk.qcow2.xz")})
	createClaim(t, ns, importClaim("privileged", "64Mi", srv.URL+"/disk.qcow2.xz"))
	requireSucceeded(t, waitFinal(t, ns, "privileged"), im.raw)

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, seen)
	sc := seen[0].Spec.Containers[0].SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, ptrTo(true), sc.Privileged, "the data pod ran privileged")
	assert.Equal(t, ptrTo[int64](0), sc.RunAsUser, "as root")
}

// setImporterEnv sets an environment variable of the importer's
// Deployment and waits until the new replicas serve alone.
func setImporterEnv(t *testing.T, name, value string) {
	t.Helper()
	ctx := context.Background()
	deps := e2e.client.AppsV1().Deployments("cdi")
	d, err := deps.Get(ctx, "cdi-importer", metav1.GetOptions{})
	require.NoError(t, err)
	c := &d.Spec.Template.Spec.Containers[0]
	found := false
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i].Value, found = value, true
		}
	}
	if !found {
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	}
	d, err = deps.Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	waitRollout(t, d)
}

// waitRollout waits until every replica of d runs its latest template and
// the old pods are gone: a terminating pod still answers requests while it
// drains, with its old settings.
func waitRollout(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	eventually(t, 3*time.Minute, "rollout of "+d.Name, func(ctx context.Context) (bool, error) {
		cur, err := e2e.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		want := *cur.Spec.Replicas
		s := cur.Status
		if s.ObservedGeneration < cur.Generation || s.UpdatedReplicas != want || s.AvailableReplicas != want || s.Replicas != want {
			return false, nil
		}
		sel, err := metav1.LabelSelectorAsSelector(cur.Spec.Selector)
		if err != nil {
			return false, err
		}
		pods, err := e2e.client.CoreV1().Pods(cur.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return false, err
		}
		return int32(len(pods.Items)) == want, nil
	})
}

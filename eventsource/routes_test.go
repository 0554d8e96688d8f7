package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	cminformer "knative.dev/pkg/configmap/informer"
	logtesting "knative.dev/pkg/logging/testing"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/events"
)

func routingMap(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: events.RoutingConfigMap, Namespace: "cdi"}, Data: data}
}

func TestRouteTable(t *testing.T) {
	logger := logtesting.TestLogger(t)
	rt := newRouteTable("")
	_, err := rt.Routes().URL(events.ImportRequested)
	assert.Error(t, err, "no routes yet")

	rt.update(logger, routingMap(map[string]string{events.ImportRequested: "http://cdi-importer.cdi.svc.cluster.local"}))
	u, err := rt.Routes().URL(events.ImportRequested)
	require.NoError(t, err)
	assert.Equal(t, "http://cdi-importer.cdi.svc.cluster.local", u)

	rt.update(logger, routingMap(map[string]string{"com.github.cdi-functions.typo.v1": "http://x"}))
	u, err = rt.Routes().URL(events.ImportRequested)
	require.NoError(t, err, "an invalid table is ignored")
	assert.Equal(t, "http://cdi-importer.cdi.svc.cluster.local", u)

	sink := newRouteTable("http://broker")
	sink.update(logger, routingMap(map[string]string{events.ImportRequested: "http://cdi-importer"}))
	u, err = sink.Routes().URL(events.DataPodPhase)
	require.NoError(t, err)
	assert.Equal(t, "http://broker", u, "K_SINK wins")
}

func TestRouteTableWatch(t *testing.T) {
	logger := logtesting.TestLogger(t)
	kc := fake.NewSimpleClientset()
	w := cminformer.NewInformedWatcher(kc, "cdi")
	rt := newRouteTable("")
	rt.watch(w, logger)
	stop := make(chan struct{})
	defer close(stop)
	require.NoError(t, w.Start(stop), "the routing table is optional")

	_, err := kc.CoreV1().ConfigMaps("cdi").Create(context.Background(),
		routingMap(map[string]string{events.DataPodPhase: "http://cdi-updater"}), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		u, err := rt.Routes().URL(events.DataPodPhase)
		return err == nil && u == "http://cdi-updater"
	}, 5*time.Second, 10*time.Millisecond)
}

func TestWantsWork(t *testing.T) {
	assert.True(t, wantsWork(gen.Claim("a", gen.WithEndpoint(imageURL))))
	assert.True(t, wantsWork(gen.Claim("a", gen.WithUploadTarget())))
	assert.False(t, wantsWork(gen.Claim("a")))
	assert.True(t, wantsWork(cacheTombstone(gen.Claim("a", gen.WithEndpoint(imageURL)))))
	assert.False(t, wantsWork(gen.DataPod(gen.Claim("a"))))
}

func TestMaxRestartsFromEnv(t *testing.T) {
	env := func(v string) func(string) string { return func(string) string { return v } }
	n, err := maxRestartsFromEnv(env(""))
	require.NoError(t, err)
	assert.Equal(t, int32(defaultMaxRestarts), n)
	n, err = maxRestartsFromEnv(env("0"))
	require.NoError(t, err)
	assert.Zero(t, n, "0: no limit")
	_, err = maxRestartsFromEnv(env("-1"))
	assert.ErrorContains(t, err, "DATAPOD_MAX_RESTARTS")
}

package main

import (
	"sync/atomic"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/configmap"

	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// routeTable holds where events go: every event to K_SINK when it is set,
// else to the URL the config-routing ConfigMap gives for its type, as last
// parsed. Safe for concurrent use.
type routeTable struct {
	current atomic.Pointer[events.Routes]
}

// newRouteTable starts a table with sink (K_SINK, may be empty) and no
// per-type routes.
func newRouteTable(sink string) *routeTable {
	t := &routeTable{}
	t.current.Store(&events.Routes{Sink: sink, ByType: map[string]string{}})
	return t
}

// Routes returns the current routes (events.Sender looks them up on every
// send, so a changed ConfigMap takes effect at once).
func (t *routeTable) Routes() events.Routes {
	return *t.current.Load()
}

// update replaces the per-type routes with the table in cm. A table that
// does not parse is logged and ignored: the last good one stays.
func (t *routeTable) update(logger *zap.SugaredLogger, cm *corev1.ConfigMap) {
	parsed, err := events.ParseRoutes(cm.Data)
	if err != nil {
		logger.Errorw("Ignoring invalid routing table, keeping the previous one", zap.String("configmap", cm.Name), zap.Error(err))
		return
	}
	parsed.Sink = t.Routes().Sink
	t.current.Store(&parsed)
	logger.Infow("Routes updated", zap.Stringer("routes", parsed))
}

// watch follows the config-routing ConfigMap through cmw. The map is
// optional: without it (and without K_SINK) events have no route, are
// dropped and derived again until it appears.
func (t *routeTable) watch(cmw configmap.Watcher, logger *zap.SugaredLogger) {
	observe := func(cm *corev1.ConfigMap) { t.update(logger, cm) }
	if dw, ok := cmw.(configmap.DefaultingWatcher); ok {
		dw.WatchWithDefault(corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: events.RoutingConfigMap}}, observe)
		return
	}
	cmw.Watch(events.RoutingConfigMap, observe)
}

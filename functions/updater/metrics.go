package main

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the updater's own Prometheus metrics (the function runtime
// adds events handled and their duration).
type metrics struct {
	writes      prometheus.Counter
	conflicts   prometheus.Counter
	podsDeleted prometheus.Counter
	ignored     *prometheus.CounterVec
	kubeEvents  *prometheus.CounterVec
}

// newMetrics creates the metrics and registers them with reg.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cdi_updater_claim_writes_total",
			Help: "Status patches written to claims.",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cdi_updater_conflicts_total",
			Help: "Status patches refused because the claim changed since it was read (then read again).",
		}),
		podsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cdi_updater_datapods_deleted_total",
			Help: "Finished data pods deleted.",
		}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdi_updater_events_ignored_total",
			Help: "Events that changed nothing, by why: no-change (duplicate, old or out of order), claim-gone, other-claim, pod-not-owned.",
		}, []string{"why"}),
		kubeEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdi_updater_kube_events_total",
			Help: "Kubernetes Events recorded on claims, by reason.",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.writes, m.conflicts, m.podsDeleted, m.ignored, m.kubeEvents} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register updater metrics: %w", err)
		}
	}
	return m, nil
}

package main

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics are the updater's own metrics (the function runtime adds events
// handled, their duration and the senders' authentication), exported in
// Prometheus format as cdi_updater_*_total.
type metrics struct {
	writes      metric.Int64Counter
	conflicts   metric.Int64Counter
	podsDeleted metric.Int64Counter
	ignored     metric.Int64Counter
	kubeEvents  metric.Int64Counter
	refused     metric.Int64Counter
}

// Why an event changed nothing, the "why" attribute of
// cdi.updater.events.ignored.
const (
	ignoredNoChange    = "no-change"
	ignoredClaimGone   = "claim-gone"
	ignoredOtherClaim  = "other-claim"
	ignoredPodNotOwned = "pod-not-owned"
)

// newMetrics creates the instruments on m.
func newMetrics(m metric.Meter) (*metrics, error) {
	var out metrics
	for _, c := range []struct {
		dst        *metric.Int64Counter
		name, help string
	}{
		{&out.writes, "cdi.updater.claim.writes", "Status patches written to claims."},
		{&out.conflicts, "cdi.updater.conflicts", "Status patches refused because the claim changed since it was read (then read again)."},
		{&out.podsDeleted, "cdi.updater.datapods.deleted", "Data pods deleted (finished, failed as a whole, or of a claim being deleted)."},
		{&out.ignored, "cdi.updater.events.ignored", "Events that changed nothing, by why: no-change (duplicate, old or out of order), claim-gone, other-claim, pod-not-owned."},
		{&out.kubeEvents, "cdi.updater.kube.events", "Kubernetes Events recorded on claims, by reason."},
		{&out.refused, "cdi.updater.events.refused", "Events refused because their sender may not send them, by sender kind: eventsource, importer, datapod, other."},
	} {
		counter, err := m.Int64Counter(c.name, metric.WithDescription(c.help), metric.WithUnit("{event}"))
		if err != nil {
			return nil, fmt.Errorf("updater metric %s: %w", c.name, err)
		}
		*c.dst = counter
	}
	return &out, nil
}

func inc(ctx context.Context, c metric.Int64Counter, attrs ...attribute.KeyValue) {
	c.Add(ctx, 1, metric.WithAttributes(attrs...))
}

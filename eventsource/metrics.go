package main

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Reasons an event is dropped, the "reason" attribute of the dropped
// counter.
const (
	dropQueueFull  = "queue_full"
	dropSendFailed = "send_failed"
	dropNotLeader  = "not_leader"
	dropRejected   = "rejected"
	dropSuperseded = "superseded"
)

// metrics counts what the emitter does. sharedmain exports them in
// Prometheus format (config-observability metrics-protocol: prometheus)
// as cdi_eventsource_events_sent_total and
// cdi_eventsource_events_dropped_total.
type metrics struct {
	sent, dropped metric.Int64Counter
}

// newMetrics creates the instruments on a meter of mp.
func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter("github.com/cdi-functions/cdi-functions/eventsource")
	sent, err := m.Int64Counter("cdi.eventsource.events.sent",
		metric.WithDescription("Events delivered to their sink, by type."), metric.WithUnit("{event}"))
	if err != nil {
		return nil, fmt.Errorf("sent counter: %w", err)
	}
	dropped, err := m.Int64Counter("cdi.eventsource.events.dropped",
		metric.WithDescription("Events dropped (derived again later from state), by type and reason."), metric.WithUnit("{event}"))
	if err != nil {
		return nil, fmt.Errorf("dropped counter: %w", err)
	}
	return &metrics{sent: sent, dropped: dropped}, nil
}

func (m *metrics) recordSent(ctx context.Context, typ string) {
	m.sent.Add(ctx, 1, metric.WithAttributes(attribute.String("type", typ)))
}

func (m *metrics) recordDropped(ctx context.Context, typ, reason string) {
	m.dropped.Add(ctx, 1, metric.WithAttributes(attribute.String("type", typ), attribute.String("reason", reason)))
}

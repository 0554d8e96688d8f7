package function

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Outcomes of the authentication of a request, the "outcome" attribute of
// cdi.function.auth.
const (
	authAuthenticated   = "authenticated"
	authUnauthenticated = "unauthenticated"
	authForbidden       = "forbidden"
	authReviewFailed    = "review_failed"
	authTooLarge        = "too_large"
)

// serverMetrics are the runtime's own metrics of every function, exported
// in Prometheus format as cdi_function_events_total,
// cdi_function_event_duration_seconds and cdi_function_auth_total.
type serverMetrics struct {
	function attribute.KeyValue
	events   metric.Int64Counter
	duration metric.Float64Histogram
	auth     metric.Int64Counter
}

func newServerMetrics(name string, m metric.Meter) (*serverMetrics, error) {
	events, err := m.Int64Counter("cdi.function.events",
		metric.WithDescription("Events handled, by type (of the catalogue, else unknown) and HTTP status of the answer."),
		metric.WithUnit("{event}"))
	if err != nil {
		return nil, fmt.Errorf("events counter: %w", err)
	}
	duration, err := m.Float64Histogram("cdi.function.event.duration",
		metric.WithDescription("Time to handle an event, by type."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.001, 0.004, 0.016, 0.064, 0.256, 1.024, 4.096, 16.384))
	if err != nil {
		return nil, fmt.Errorf("duration histogram: %w", err)
	}
	authn, err := m.Int64Counter("cdi.function.auth",
		metric.WithDescription("Requests by the outcome of checking their sender: authenticated, unauthenticated, forbidden, review_failed, too_large."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, fmt.Errorf("auth counter: %w", err)
	}
	return &serverMetrics{function: attribute.String("function", name), events: events, duration: duration, auth: authn}, nil
}

func (m *serverMetrics) handled(ctx context.Context, typ string, code int, took time.Duration) {
	m.events.Add(ctx, 1, metric.WithAttributes(m.function, attribute.String("type", typ), attribute.Int("code", code)))
	m.duration.Record(ctx, took.Seconds(), metric.WithAttributes(m.function, attribute.String("type", typ)))
}

func (m *serverMetrics) authOutcome(ctx context.Context, outcome string) {
	m.auth.Add(ctx, 1, metric.WithAttributes(m.function, attribute.String("outcome", outcome)))
}

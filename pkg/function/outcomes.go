package function

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The outcomes of an event at a function that makes objects (the
// importer, the uploader, the cloner, the requester): the "outcome" attribute of its
// events counter (NewOutcomes).
const (
	// OutcomeCreated: the data pods were made.
	OutcomeCreated = "created"
	// OutcomeExists: they existed already (a duplicate event).
	OutcomeExists = "exists"
	// OutcomeObsolete: the event no longer applies (the claim is gone,
	// re-created, finished, or asks for something else).
	OutcomeObsolete = "obsolete"
	// OutcomeRefused: the request cannot be done; the claim ends Failed.
	OutcomeRefused = "refused"
	// OutcomeWaiting: the request waits for something that may come; the
	// claim is Pending with an Event saying what.
	OutcomeWaiting = "waiting"
	// OutcomeMalformed: the event itself is malformed.
	OutcomeMalformed = "malformed"
	// OutcomeForbidden: the sender may not ask for this.
	OutcomeForbidden = "forbidden"
	// OutcomeConflict: the request contradicts what exists (a claim made
	// by another request).
	OutcomeConflict = "conflict"
	// OutcomeRetry: API trouble; the event is retried.
	OutcomeRetry = "retry"
)

// Outcomes counts a function's events by outcome.
type Outcomes struct {
	counter metric.Int64Counter
}

// NewOutcomes registers on meter the counter name (e.g.
// "cdi.importer.events") of the function's events of type what (e.g.
// "ImportRequested").
func NewOutcomes(meter metric.Meter, name, what string) (*Outcomes, error) {
	c, err := meter.Int64Counter(name,
		metric.WithDescription(what+" events by outcome: created, exists, obsolete, refused, waiting, malformed, forbidden, retry."),
		metric.WithUnit("{event}"))
	if err != nil {
		return nil, fmt.Errorf("metric %s: %w", name, err)
	}
	return &Outcomes{counter: c}, nil
}

// Count counts one event with its outcome.
func (o *Outcomes) Count(ctx context.Context, outcome string) {
	o.counter.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

package function

import (
	"context"
	"errors"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
)

// Handler handles one event. It must be idempotent: events arrive at least
// once and maybe out of order. The sender's identity is in ctx
// (auth.FromContext): Main authenticated it; the handler decides what it
// may ask for and returns auth.Forbidden when it may not.
type Handler func(ctx context.Context, e cloudevents.Event) error

// permanentError marks an event that handling again cannot fix.
type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// Permanent marks err as a permanent failure: the event is answered with
// 400 Bad Request and not retried.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// conflictError marks a request that contradicts what exists.
type conflictError struct{ err error }

func (c *conflictError) Error() string { return c.err.Error() }
func (c *conflictError) Unwrap() error { return c.err }

// Conflict marks err as a conflict with what exists (a claim made by
// another request): the event is answered with 409 Conflict.
func Conflict(err error) error {
	if err == nil {
		return nil
	}
	return &conflictError{err: err}
}

// IsConflict reports whether err was marked with Conflict.
func IsConflict(err error) bool {
	var c *conflictError
	return errors.As(err, &c)
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// statusOf maps a handler's error to the HTTP status of the answer.
func statusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusAccepted
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden
	case IsConflict(err):
		return http.StatusConflict
	case IsPermanent(err):
		return http.StatusBadRequest
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// resultOf is the CloudEvents protocol result for err.
func resultOf(err error) protocol.Result {
	code := statusOf(err)
	if err == nil {
		// No body: a Broker takes a non-empty answer to be a reply
		// event and fails the delivery when it is not one.
		return cehttp.NewResult(code, "")
	}
	return cehttp.NewResult(code, "%s", err.Error())
}

// typeLabel bounds the event type used as a metric label: an anonymous
// caller can send any type, so only the catalogue's reach the metrics.
func typeLabel(typ string, known func(string) bool) string {
	if known(typ) {
		return typ
	}
	return "unknown"
}

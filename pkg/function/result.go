package function

import (
	"context"
	"errors"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Handler handles one event. It must be idempotent: events arrive at least
// once and maybe out of order.
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
		return cehttp.NewResult(code, "accepted")
	}
	return cehttp.NewResult(code, "%s", err.Error())
}

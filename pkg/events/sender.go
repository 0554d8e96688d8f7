package events

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
)

// Sender delivers events with bounded retries.
type Sender struct {
	client  cloudevents.Client
	routes  func() Routes
	backoff time.Duration
	tries   int
}

// SenderOptions tune a Sender.
type SenderOptions struct {
	// Backoff is the first retry delay (doubled each try); default 200ms.
	Backoff time.Duration
	// Tries is the most attempts per event; default 5.
	Tries int
	// Token returns the sender's bearer token (auth.FileToken.Token),
	// presented on every request, in the Authorization header and in the
	// event's auth.TokenExtension (which survives a Broker), so the
	// consumer knows who sends; nil sends none (consumers then answer 401).
	Token func() (string, error)
	// SinkToken, when set, returns the token of the sink itself (a
	// Broker with OIDC: auth.SinkTokenFile, a SinkBinding's) and takes
	// Token's place in the Authorization header; Token then travels in
	// the extension alone.
	SinkToken func() (string, error)
}

// NewSender returns a Sender that looks routes up on every send, so a
// reloaded routing table takes effect at once.
func NewSender(routes func() Routes, opts SenderOptions) (*Sender, error) {
	var httpOpts []cehttp.Option
	if opts.Token != nil || opts.SinkToken != nil {
		httpOpts = append(httpOpts, cehttp.WithRoundTripperDecorator(func(rt http.RoundTripper) http.RoundTripper {
			return &bearer{next: rt, token: opts.Token, sinkToken: opts.SinkToken}
		}))
	}
	c, err := cloudevents.NewClientHTTP(httpOpts...)
	if err != nil {
		return nil, fmt.Errorf("cloudevents client: %w", err)
	}
	if opts.Backoff == 0 {
		opts.Backoff = 200 * time.Millisecond
	}
	if opts.Tries == 0 {
		opts.Tries = 5
	}
	return &Sender{client: c, routes: routes, backoff: opts.Backoff, tries: opts.Tries}, nil
}

// ErrRejected reports an event its consumer refused for good (a 4xx other
// than 404/408/409/429): resending the same event will not help.
var ErrRejected = errors.New("event rejected")

// Send delivers e to its route, retrying network errors and transient
// answers (404, 408, 409, 425, 429, 5xx) with exponential backoff.
func (s *Sender) Send(ctx context.Context, e cloudevents.Event) error {
	target, err := s.routes().URL(e.Type())
	if err != nil {
		return err
	}
	return s.SendTo(ctx, target, e)
}

// SendTo delivers e to target, retrying as Send does.
func (s *Sender) SendTo(ctx context.Context, target string, e cloudevents.Event) error {
	ctx = cloudevents.ContextWithTarget(ctx, target)
	// The sdk counts retries after the first attempt.
	ctx = cloudevents.ContextWithRetriesExponentialBackoff(ctx, s.backoff, s.tries-1)
	res := s.client.Send(ctx, e)
	if cloudevents.IsACK(res) {
		return nil
	}
	last := res
	if rr, ok := res.(*cehttp.RetriesResult); ok {
		last = rr.Result
	}
	var httpRes *cehttp.Result
	if cloudevents.ResultAs(last, &httpRes) && permanent(httpRes.StatusCode) {
		return fmt.Errorf("%w: %s %s to %s: %w", ErrRejected, e.Type(), e.ID(), target, res)
	}
	return fmt.Errorf("send %s %s to %s: %w", e.Type(), e.ID(), target, res)
}

// permanent reports whether a consumer's status code means "do not retry".
func permanent(code int) bool {
	switch code {
	case 404, 408, 409, 425, 429:
		return false
	}
	return code >= 400 && code < 500
}

// bearer is a RoundTripper that presents the sender's token, both as the
// Authorization header (for a consumer the event goes to directly) and as
// the event's auth.TokenExtension (for one behind a Broker); with a sink
// token, that one is the Authorization header (for the Broker). Events are
// sent in binary mode, where an extension is a Ce- header.
type bearer struct {
	next      http.RoundTripper
	token     func() (string, error)
	sinkToken func() (string, error)
}

// RoundTrip implements http.RoundTripper.
func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != nil {
		t, err := b.token()
		if err != nil {
			return nil, fmt.Errorf("sender credentials: %w", err)
		}
		r.Header.Set("Authorization", "Bearer "+t)
		r.Header.Set(auth.TokenHeader, t)
	}
	if b.sinkToken != nil {
		t, err := b.sinkToken()
		if err != nil {
			return nil, fmt.Errorf("sink credentials: %w", err)
		}
		r.Header.Set("Authorization", "Bearer "+t)
	}
	next := b.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

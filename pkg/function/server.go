package function

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/protocol"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// Authenticator establishes who sent a request from its bearer token
// (auth.Reviewer in production).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (auth.Identity, error)
}

// DefaultMaxBody bounds the body of one event: the catalogue's payloads
// are a few hundred bytes; an anonymous caller cannot make a function read
// more.
const DefaultMaxBody = 64 << 10

// Server serves one Handler over HTTP: every request's sender is
// authenticated before the event is even read (401 otherwise), its body
// is bounded, and the handler gets the sender's identity in its context.
type Server struct {
	name    string
	handler Handler
	auth    Authenticator
	metrics *serverMetrics
	logger  *zap.SugaredLogger

	// MaxBody bounds a request's body (default DefaultMaxBody); larger
	// requests are answered 413 unread.
	MaxBody int64
	// Drain is how long Serve keeps answering after ctx is done, with
	// /readyz failing, so that the Service stops routing to this replica
	// before it stops listening (a rolling update then loses no event).
	Drain    time.Duration
	draining atomic.Bool
	// drainWait waits out the drain (tests replace it).
	drainWait func(time.Duration)
}

// NewServer wraps h with authentication by a, the receiver, probes and
// metrics on meter.
func NewServer(name string, h Handler, a Authenticator, meter metric.Meter, logger *zap.SugaredLogger) (*Server, error) {
	m, err := newServerMetrics(name, meter)
	if err != nil {
		return nil, err
	}
	return &Server{name: name, handler: h, auth: a, metrics: m, logger: logger, MaxBody: DefaultMaxBody, drainWait: time.Sleep}, nil
}

// receive is the CloudEvents callback: it runs the handler with a logger
// naming the event and its sender, records metrics and maps the error to
// the answer.
func (s *Server) receive(ctx context.Context, e cloudevents.Event) protocol.Result {
	start := time.Now()
	// The sender's token was checked before the event was read; no handler,
	// log or reply needs it.
	e.SetExtension(auth.TokenExtension, nil)
	id, _ := auth.FromContext(ctx)
	log := s.logger.With(zap.String("type", e.Type()), zap.String("id", e.ID()), zap.String("subject", e.Subject()),
		zap.Stringer("sender", id))
	err := s.handler(logging.WithLogger(ctx, log), e)
	code := statusOf(err)
	s.metrics.handled(ctx, typeLabel(e.Type(), events.Known), code, time.Since(start))
	switch {
	case err == nil:
		log.Debug("handled")
	case errors.Is(err, auth.ErrForbidden):
		s.metrics.authOutcome(ctx, authForbidden)
		log.Warnw("refused: the sender may not ask for this", zap.Error(err))
	case IsPermanent(err), IsConflict(err):
		log.Warnw("rejected", zap.Error(err))
	default:
		log.Errorw("failed, will be retried", zap.Error(err))
	}
	return resultOf(err)
}

// authenticate establishes the sender of every request before next reads
// it: 413 for a body over MaxBody, 401 without a valid token (the event's
// auth.TokenExtension, or the Authorization header's), 503 when the API
// server cannot say.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		typ := typeLabel(r.Header.Get("Ce-Type"), events.Known)
		refuse := func(code int, outcome, msg string) {
			s.metrics.authOutcome(ctx, outcome)
			s.metrics.handled(ctx, typ, code, 0)
			http.Error(w, msg, code)
		}
		if r.ContentLength > s.MaxBody {
			refuse(http.StatusRequestEntityTooLarge, authTooLarge, fmt.Sprintf("request body larger than %d bytes", s.MaxBody))
			return
		}
		id, err := s.auth.Authenticate(ctx, auth.SenderToken(r.Header))
		switch {
		case errors.Is(err, auth.ErrUnauthenticated):
			// The reason, never the token.
			s.logger.Warnw("refused an unauthenticated request", zap.String("type", typ), zap.String("remote", r.RemoteAddr), zap.Error(err))
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+auth.Audience+`"`)
			refuse(http.StatusUnauthorized, authUnauthenticated, err.Error())
			return
		case err != nil:
			s.logger.Errorw("could not authenticate a request", zap.String("type", typ), zap.Error(err))
			w.Header().Set("Retry-After", "1")
			refuse(http.StatusServiceUnavailable, authReviewFailed, "cannot authenticate the sender now, try again")
			return
		}
		s.metrics.authOutcome(ctx, authAuthenticated)
		r.Body = http.MaxBytesReader(w, r.Body, s.MaxBody)
		next.ServeHTTP(w, r.WithContext(auth.WithIdentity(ctx, id)))
	})
}

// Handler returns the HTTP handler: the authenticated receiver at "/",
// probes at /healthz and /readyz.
func (s *Server) Handler(ctx context.Context) (http.Handler, error) {
	p, err := cloudevents.NewHTTP()
	if err != nil {
		return nil, fmt.Errorf("cloudevents protocol: %w", err)
	}
	ce, err := cloudevents.NewHTTPReceiveHandler(ctx, p, s.receive)
	if err != nil {
		return nil, fmt.Errorf("cloudevents receiver: %w", err)
	}
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		ok(w, r)
	})
	mux.Handle("/", s.authenticate(ce))
	return mux, nil
}

// Serve answers on ln until ctx is done, then drains: /readyz fails for
// Drain while requests are still answered, then in-flight requests finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	h, err := s.Handler(ctx)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		s.draining.Store(true)
		s.drainWait(s.Drain) // keep answering while endpoints propagate
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	s.logger.Infow("serving", zap.String("addr", ln.Addr().String()))
	err = srv.Serve(ln)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	<-stopped
	return nil
}

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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"knative.dev/pkg/logging"
)

// Server serves one Handler over HTTP.
type Server struct {
	name     string
	handler  Handler
	registry *prometheus.Registry
	events   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	logger   *zap.SugaredLogger

	// Drain is how long Serve keeps answering after ctx is done, with
	// /readyz failing, so that the Service stops routing to this replica
	// before it stops listening (a rolling update then loses no event).
	Drain    time.Duration
	draining atomic.Bool
}

// NewServer wraps h with the receiver, probes and metrics. registry may
// already hold the function's own metrics.
func NewServer(name string, h Handler, registry *prometheus.Registry, logger *zap.SugaredLogger) *Server {
	s := &Server{
		name: name, handler: h, registry: registry, logger: logger,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdi_function_events_total",
			Help: "Events handled, by type and HTTP status of the answer.",
		}, []string{"function", "type", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cdi_function_event_duration_seconds",
			Help:    "Time to handle an event, by type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"function", "type"}),
	}
	registry.MustRegister(s.events, s.duration, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s
}

// receive is the CloudEvents callback: it runs the handler with a logger
// naming the event, records metrics and maps the error to the answer.
func (s *Server) receive(ctx context.Context, e cloudevents.Event) protocol.Result {
	start := time.Now()
	log := s.logger.With(zap.String("type", e.Type()), zap.String("id", e.ID()), zap.String("subject", e.Subject()))
	err := s.handler(logging.WithLogger(ctx, log), e)
	code := statusOf(err)
	s.events.WithLabelValues(s.name, e.Type(), fmt.Sprint(code)).Inc()
	s.duration.WithLabelValues(s.name, e.Type()).Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		log.Debug("handled")
	case IsPermanent(err):
		log.Warnw("rejected", zap.Error(err))
	default:
		log.Errorw("failed, will be retried", zap.Error(err))
	}
	return resultOf(err)
}

// Handler returns the HTTP handler: the receiver at "/", probes, metrics.
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
	mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	mux.Handle("/", ce)
	return mux, nil
}

// Serve listens on addr until ctx is done, then drains in-flight requests.
func (s *Server) Serve(ctx context.Context, addr string) error {
	h, err := s.Handler(ctx)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		s.draining.Store(true)
		time.Sleep(s.Drain)
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	s.logger.Infow("serving", zap.String("addr", ln.Addr().String()))
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

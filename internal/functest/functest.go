// Package functest runs a function's Handler behind the real function
// server (pkg/function) in unit tests: events go over HTTP with a bearer
// token, a table of tokens stands in for the API server's TokenReview,
// and the metrics are read from an in-memory reader.
package functest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/function"
)

// Tokens is an Authenticator that knows a fixed set of tokens: a fake of
// the API server's TokenReview for unit tests (pkg/auth tests the real
// review).
type Tokens map[string]auth.Identity

// Authenticate implements function.Authenticator.
func (t Tokens) Authenticate(_ context.Context, token string) (auth.Identity, error) {
	if token == "" {
		return auth.Identity{}, errorf("no bearer token")
	}
	id, ok := t[token]
	if !ok {
		return auth.Identity{}, errorf("invalid bearer token")
	}
	return id, nil
}

func errorf(msg string) error { return &unauthenticated{msg} }

type unauthenticated struct{ msg string }

func (u *unauthenticated) Error() string { return "unauthenticated: " + u.msg }
func (u *unauthenticated) Unwrap() error { return auth.ErrUnauthenticated }

// Meter is an in-memory meter and the reader of what was recorded on it.
type Meter struct {
	metric.Meter
	reader *sdkmetric.ManualReader
}

// NewMeter returns a Meter.
func NewMeter() *Meter {
	r := sdkmetric.NewManualReader()
	return &Meter{Meter: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)).Meter("test"), reader: r}
}

// Count returns the sum of the counter name over the points whose
// attributes include attrs.
func (m *Meter) Count(t testing.TB, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, m.reader.Collect(context.Background(), &rm))
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, mm := range sm.Metrics {
			if mm.Name != name {
				continue
			}
			sum, ok := mm.Data.(metricdata.Sum[int64])
			require.True(t, ok, "%s is an int64 counter", name)
			for _, p := range sum.DataPoints {
				if has(p.Attributes, attrs) {
					total += p.Value
				}
			}
		}
	}
	return total
}

func has(set attribute.Set, attrs []attribute.KeyValue) bool {
	for _, a := range attrs {
		v, ok := set.Value(a.Key)
		if !ok || v != a.Value {
			return false
		}
	}
	return true
}

// Server is a function's Handler served over HTTP on loopback.
type Server struct {
	URL   string
	Meter *Meter
}

// Serve starts h behind the function server, authenticating with tokens.
func Serve(t testing.TB, name string, h function.Handler, tokens Tokens, meter *Meter) *Server {
	t.Helper()
	if meter == nil {
		meter = NewMeter()
	}
	s, err := function.NewServer(name, h, tokens, meter, zap.NewNop().Sugar())
	require.NoError(t, err)
	mux, err := s.Handler(context.Background())
	require.NoError(t, err)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &Server{URL: srv.URL, Meter: meter}
}

// Send delivers e with the bearer token (none when empty) and returns the
// HTTP status of the answer and its message.
func (s *Server) Send(t testing.TB, token string, e cloudevents.Event) (int, string) {
	t.Helper()
	var opts []cehttp.Option
	if token != "" {
		opts = append(opts, cehttp.WithHeader("Authorization", "Bearer "+token))
	}
	c, err := cloudevents.NewClientHTTP(opts...)
	require.NoError(t, err)
	res := c.Send(cloudevents.ContextWithTarget(context.Background(), s.URL), e)
	var httpRes *cehttp.Result
	require.True(t, cloudevents.ResultAs(res, &httpRes), "an HTTP answer: %v", res)
	return httpRes.StatusCode, res.Error()
}

// StatusOK reports whether code is a 2xx.
func StatusOK(code int) bool { return code >= http.StatusOK && code < http.StatusMultipleChoices }

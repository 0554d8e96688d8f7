package function_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/internal/functest"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
)

var sender = auth.Identity{Username: "system:serviceaccount:cdi:cdi-eventsource"}

var tokens = functest.Tokens{"good": sender}

func event(typ string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID("1")
	e.SetType(typ)
	e.SetSource("/test")
	return e
}

func TestServerAnswers(t *testing.T) {
	tests := []struct {
		name     string
		token    string
		typ      string
		err      error
		wantCode int
		wantCall bool
		wantAuth string // outcome counted
		wantType string // type label counted
	}{
		{"handled", "good", events.DataPodPhase, nil, http.StatusAccepted, true, "authenticated", events.DataPodPhase},
		{"permanent", "good", events.DataPodPhase, function.Permanent(errors.New("bad request")), http.StatusBadRequest, true, "authenticated", events.DataPodPhase},
		{"conflict", "good", events.DataPodPhase, function.Conflict(errors.New("made by another request")), http.StatusConflict, true, "authenticated", events.DataPodPhase},
		{"transient", "good", events.DataPodPhase, errors.New("conflict, try again"), http.StatusInternalServerError, true, "authenticated", events.DataPodPhase},
		{"cancelled", "good", events.DataPodPhase, context.Canceled, http.StatusServiceUnavailable, true, "authenticated", events.DataPodPhase},
		{"forbidden", "good", events.DataPodPhase, auth.Forbidden("not your claim"), http.StatusForbidden, true, "forbidden", events.DataPodPhase},
		{"no token", "", events.DataPodPhase, nil, http.StatusUnauthorized, false, "unauthenticated", events.DataPodPhase},
		{"unknown token", "forged", events.DataPodPhase, nil, http.StatusUnauthorized, false, "unauthenticated", events.DataPodPhase},
		{"a type outside the catalogue is not a metric label", "good", "com.evil.x" + strings.Repeat("y", 100), nil, http.StatusAccepted, true, "authenticated", "unknown"},
		{"nor for anonymous callers", "", "com.evil.x", nil, http.StatusUnauthorized, false, "unauthenticated", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var called bool
			var got auth.Identity
			h := func(ctx context.Context, e cloudevents.Event) error {
				called = true
				got, _ = auth.FromContext(ctx)
				assert.NotNil(t, logging.FromContext(ctx), "the handler gets a logger in its context")
				return tt.err
			}
			srv := functest.Serve(t, "test", h, tokens, nil)
			code, msg := srv.Send(t, tt.token, event(tt.typ))
			assert.Equal(t, tt.wantCode, code, msg)
			assert.Equal(t, tt.wantCall, called, "the handler runs only for an authenticated sender")
			if tt.wantCall {
				assert.Equal(t, sender, got, "the handler knows the sender")
			}
			if tt.err != nil {
				assert.Contains(t, msg, tt.err.Error(), "the answer carries the error")
			}
			assert.Equal(t, int64(1), srv.Meter.Count(t, "cdi.function.auth", attribute.String("outcome", tt.wantAuth)))
			assert.Equal(t, int64(1), srv.Meter.Count(t, "cdi.function.events",
				attribute.String("type", tt.wantType), attribute.Int("code", tt.wantCode)))
		})
	}
}

// Through a Broker the Authorization header holds the Broker's own
// credentials, if any; the sender's token is the event's extension, which
// wins, and which the handler never sees.
func TestServerTakesTheSendersTokenFromTheEvent(t *testing.T) {
	tests := []struct {
		name, header, extension string
		wantCode                int
	}{
		{"the sender's token in the event, the Broker's in the header", "broker-oidc", "good", http.StatusAccepted},
		{"the sender's token in the event only", "", "good", http.StatusAccepted},
		{"a forged token in the event is not rescued by a good header", "good", "forged", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen cloudevents.Event
			srv := functest.Serve(t, "test", func(_ context.Context, e cloudevents.Event) error { seen = e; return nil }, tokens, nil)
			e := event(events.DataPodPhase)
			e.SetExtension(auth.TokenExtension, tt.extension)
			code, msg := srv.Send(t, tt.header, e)
			assert.Equal(t, tt.wantCode, code, msg)
			if code == http.StatusAccepted {
				assert.NotContains(t, seen.Extensions(), auth.TokenExtension, "the handler never holds the token")
			}
		})
	}
}

// reviewFailing is an Authenticator whose API server is down.
type reviewFailing struct{}

func (reviewFailing) Authenticate(context.Context, string) (auth.Identity, error) {
	return auth.Identity{}, errors.New("token review: connection refused")
}

func TestServerReviewFailureIsRetryable(t *testing.T) {
	s, err := function.NewServer("test", func(context.Context, cloudevents.Event) error {
		t.Error("the handler must not run")
		return nil
	}, reviewFailing{}, functest.NewMeter(), zap.NewNop().Sugar())
	require.NoError(t, err)
	mux, err := s.Handler(context.Background())
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer good")
	rec := &recorder{header: http.Header{}}
	mux.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusServiceUnavailable, rec.code, "the sender retries")
	assert.Equal(t, "1", rec.header.Get("Retry-After"))
}

func TestServerBoundsBody(t *testing.T) {
	var called bool
	srv := functest.Serve(t, "test", func(context.Context, cloudevents.Event) error { called = true; return nil }, tokens, nil)
	big := event(events.DataPodPhase)
	require.NoError(t, big.SetData(cloudevents.ApplicationJSON, map[string]string{"x": strings.Repeat("a", function.DefaultMaxBody)}))
	code, _ := srv.Send(t, "good", big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)
	assert.False(t, called)

	// Without a Content-Length the body is cut while read.
	req, err := http.NewRequest(http.MethodPost, srv.URL, io.MultiReader(strings.NewReader(`{"x":"`), strings.NewReader(strings.Repeat("a", 2*function.DefaultMaxBody))))
	require.NoError(t, err)
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer good")
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", "1")
	req.Header.Set("Ce-Source", "/x")
	req.Header.Set("Ce-Type", events.DataPodPhase)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.GreaterOrEqual(t, resp.StatusCode, 400)
	assert.False(t, called, "a cut body is never handled")
}

func TestServeDrains(t *testing.T) {
	s, err := function.NewServer("test", func(context.Context, cloudevents.Event) error { return nil }, tokens, functest.NewMeter(), zap.NewNop().Sugar())
	require.NoError(t, err)
	draining, release := make(chan struct{}), make(chan struct{})
	function.SetDrainWait(s, func(time.Duration) { close(draining); <-release })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, ln) }()
	assert.Equal(t, http.StatusOK, status(t, url+"/readyz"), "ready while serving")

	cancel()
	<-draining
	assert.Equal(t, http.StatusServiceUnavailable, status(t, url+"/readyz"), "not ready while draining, but still answering")
	assert.Equal(t, http.StatusOK, status(t, url+"/healthz"))
	close(release)
	require.NoError(t, <-done)
	_, err = http.Get(url + "/readyz")
	assert.Error(t, err, "stopped after the drain")
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

type recorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }

// TestServerAnswersSuccessWithoutABody: a Broker reads a non-empty answer
// to a delivery as a reply event and fails the delivery when it is not
// one, so a handled event gets a status and nothing else; a refusal keeps
// its reason.
func TestServerAnswersSuccessWithoutABody(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantBody bool
	}{
		{name: "handled", wantCode: http.StatusAccepted},
		{name: "rejected", err: function.Permanent(errors.New("bad request")), wantCode: http.StatusBadRequest, wantBody: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := functest.Serve(t, "test", func(context.Context, cloudevents.Event) error { return tt.err }, tokens, nil)
			req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{}`))
			require.NoError(t, err)
			for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "1", "Ce-Source": "/t", "Ce-Type": events.DataPodPhase,
				"Content-Type": "application/json", "Authorization": "Bearer good"} {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.wantCode, res.StatusCode)
			assert.Equal(t, tt.wantBody, len(body) > 0, "body %q", body)
		})
	}
}

package function

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"k8s.io/client-go/rest"
	"knative.dev/pkg/logging"
)

func TestServerAnswers(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode int
	}{
		{"handled", nil, http.StatusAccepted},
		{"permanent", Permanent(errors.New("bad request")), http.StatusBadRequest},
		{"transient", errors.New("conflict, try again"), http.StatusInternalServerError},
		{"cancelled", context.Canceled, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotLogger bool
			h := func(ctx context.Context, e cloudevents.Event) error {
				gotLogger = logging.FromContext(ctx) != nil
				return tt.err
			}
			s := NewServer("test", h, prometheus.NewRegistry(), zap.NewNop().Sugar())
			mux, err := s.Handler(context.Background())
			require.NoError(t, err)
			srv := httptest.NewServer(mux)
			defer srv.Close()

			e := cloudevents.NewEvent()
			e.SetID("1")
			e.SetType("com.example.test")
			e.SetSource("/test")
			c, err := cloudevents.NewClientHTTP()
			require.NoError(t, err)
			res := c.Send(cloudevents.ContextWithTarget(context.Background(), srv.URL), e)
			var httpRes *cehttp.Result
			require.True(t, cloudevents.ResultAs(res, &httpRes), "%v", res)
			assert.Equal(t, tt.wantCode, httpRes.StatusCode)
			if tt.err != nil {
				assert.Contains(t, res.Error(), tt.err.Error(), "the answer carries the error")
			}
			assert.True(t, gotLogger, "the handler gets a logger in its context")

			body := get(t, srv.URL+"/metrics")
			assert.Contains(t, body, `cdi_function_events_total{code="`+strconv.Itoa(tt.wantCode)+`",function="test",type="com.example.test"} 1`)
			assert.Equal(t, "ok\n", get(t, srv.URL+"/healthz"))
		})
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	s := NewServer("test", func(context.Context, cloudevents.Event) error { return nil }, prometheus.NewRegistry(), zap.NewNop().Sugar())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, "127.0.0.1:0") }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestSetRateLimits(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg := &rest.Config{}
	require.NoError(t, setRateLimits(cfg, env(nil)))
	assert.Equal(t, float32(defaultQPS), cfg.QPS)
	assert.Equal(t, defaultBurst, cfg.Burst)
	require.NoError(t, setRateLimits(cfg, env(map[string]string{"KUBE_API_QPS": "7.5", "KUBE_API_BURST": "9"})))
	assert.Equal(t, float32(7.5), cfg.QPS)
	assert.Equal(t, 9, cfg.Burst)
	assert.ErrorContains(t, setRateLimits(cfg, env(map[string]string{"KUBE_API_QPS": "-1"})), "KUBE_API_QPS")
	assert.ErrorContains(t, setRateLimits(cfg, env(map[string]string{"KUBE_API_BURST": "x"})), "KUBE_API_BURST")
}

func TestServeDrains(t *testing.T) {
	s := NewServer("test", func(context.Context, cloudevents.Event) error { return nil }, prometheus.NewRegistry(), zap.NewNop().Sugar())
	s.Drain = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, addr) }()
	require.Eventually(t, func() bool { _, err := http.Get("http://" + addr + "/readyz"); return err == nil }, 5*time.Second, 20*time.Millisecond)

	cancel()
	time.Sleep(50 * time.Millisecond)
	resp, err := http.Get("http://" + addr + "/readyz")
	require.NoError(t, err, "still serving while draining")
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "not ready while draining")
	require.NoError(t, <-done)
	_, err = http.Get("http://" + addr + "/readyz")
	assert.Error(t, err, "stopped after the drain")
}

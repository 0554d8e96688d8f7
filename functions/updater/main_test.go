package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
)

// TestServed runs the updater in the function runtime over HTTP, as the
// event source, the data pods or a Broker reach it: handled events are
// accepted, malformed ones refused with 400 (never retried), and the
// updater's metrics are served.
func TestServed(t *testing.T) {
	golden := claim("golden")
	cs := fake.NewClientset(golden)
	reg := prometheus.NewRegistry()
	ctx := testContext(t)
	h, err := newHandler(ctx, function.Env{Name: "updater", Kube: cs, Namespace: "cdi", Metrics: reg})
	require.NoError(t, err)
	mux, err := function.NewServer("updater", h, reg, zaptest.NewLogger(t).Sugar()).Handler(ctx)
	require.NoError(t, err)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	client, err := cloudevents.NewClientHTTP()
	require.NoError(t, err)
	send := func(e cloudevents.Event) int {
		res := client.Send(cloudevents.ContextWithTarget(context.Background(), srv.URL), e)
		var httpRes *cehttp.Result
		require.True(t, cloudevents.ResultAs(res, &httpRes), "%v", res)
		return httpRes.StatusCode
	}

	assert.Equal(t, http.StatusAccepted, send(progressEvent(t, golden, 1, 4)))
	assert.Equal(t, "25.00%", statusOf(t, cs, "golden").Progress)
	assert.Equal(t, http.StatusBadRequest, send(phaseEvent(t, golden, events.DataPodPhasePayload{Phase: "Exploded"})))
	assert.Equal(t, http.StatusAccepted, send(succeededEvent(t, golden)))
	assert.Equal(t, annotations.PhaseSucceeded, statusOf(t, cs, "golden").Phase)

	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), "cdi_updater_claim_writes_total 2")
	assert.Contains(t, string(body), `cdi_updater_kube_events_total{reason="ImportSucceeded"} 1`)
}

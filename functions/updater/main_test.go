package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/cdi-functions/cdi-functions/internal/functest"
	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

// TestServed runs the updater in the function runtime over HTTP, as the
// event source, the data pods or a Broker reach it: handled events are
// accepted, malformed ones refused with 400 (never retried), forged ones
// with 401/403, and the updater's metrics count it all.
func TestServed(t *testing.T) {
	golden := gen.ImportClaim("golden")
	pod := gen.DataPod(golden, gen.PodPhase(corev1.PodRunning))
	cs := fake.NewClientset(golden, pod)
	meter := functest.NewMeter()
	h, err := newHandler(context.Background(), function.Env{Name: "updater", Kube: cs, Namespace: "cdi", Meter: meter, Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	srv := functest.Serve(t, "updater", h, functest.Tokens{"source": eventSource, "pod": podIdentity(pod)}, meter)

	code, _ := srv.Send(t, "pod", progressEvent(t, golden, 1, 4))
	assert.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, "25.00%", statusOf(t, cs, "golden").Progress)
	code, _ = srv.Send(t, "source", phaseEvent(t, golden, events.DataPodPhasePayload{Phase: "Exploded"}))
	assert.Equal(t, http.StatusBadRequest, code)
	code, _ = srv.Send(t, "", succeededEvent(t, golden))
	assert.Equal(t, http.StatusUnauthorized, code, "anonymous")
	code, _ = srv.Send(t, "source", progressEvent(t, golden, 4, 4))
	assert.Equal(t, http.StatusForbidden, code, "the event source sends no progress")
	assert.Equal(t, "25.00%", statusOf(t, cs, "golden").Progress)
	code, _ = srv.Send(t, "pod", succeededEvent(t, golden))
	assert.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, annotations.PhaseSucceeded, statusOf(t, cs, "golden").Phase)

	assert.Equal(t, int64(2), meter.Count(t, "cdi.updater.claim.writes"))
	assert.Equal(t, int64(1), meter.Count(t, "cdi.updater.kube.events", attribute.String("reason", reason.ImportSucceeded)))
	assert.Equal(t, int64(1), meter.Count(t, "cdi.updater.events.refused", attribute.String("sender", "eventsource")))
}

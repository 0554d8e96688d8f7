package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

// TestCloneSucceeded: a clone's success marks the claim k8s.io/CloneOf
// "true" with the CloneSucceeded Event, and deletes both pods: the target
// pod, and the source pod in the source's namespace (only the one
// labelled as this clone's).
func TestCloneSucceeded(t *testing.T) {
	target := gen.Claim("golden", gen.WithCloneRequest("src/golden-pvc"), gen.WithPhase(annotations.PhaseRunning))
	source := gen.Claim("golden-pvc", gen.InNamespace("src"))
	sourcePod := datapod.CloneSourcePod(source, target, datapod.Config{Image: "img"})
	foreign := sourcePod.DeepCopy()
	foreign.Labels = nil
	for _, tc := range []struct {
		name           string
		sourcePod      *corev1.Pod
		wantSourceGone bool
	}{
		{name: "the clone's source pod goes", sourcePod: sourcePod, wantSourceGone: true},
		{name: "a pod of that name that is not the clone's stays", sourcePod: foreign},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, cs := newTestUpdater(t, target, gen.DataPod(target), tc.sourcePod)
			e := phaseEvent(t, target, events.DataPodPhasePayload{Phase: events.PodSucceeded, Reason: reason.CloneSucceeded})
			require.NoError(t, u.handle(as(t, eventSource), e))
			got := getClaim(t, cs, "golden").Annotations
			assert.Equal(t, "true", got[annotations.CloneOf])
			assert.Equal(t, annotations.PhaseSucceeded, got[annotations.PodPhase])
			evs := kubeEvents(t, cs)
			require.Len(t, evs, 1)
			assert.Equal(t, reason.CloneSucceeded, evs[0].Reason)
			assert.Equal(t, "Clone Complete", evs[0].Message)
			_, err := cs.CoreV1().Pods("src").Get(context.Background(), sourcePod.Name, metav1.GetOptions{})
			assert.Equal(t, tc.wantSourceGone, apierrors.IsNotFound(err), "source pod gone")
		})
	}
}

// TestClonerRefusals: the cloner may report its refusals (a clone that
// is not authorized ends Failed), and nothing else.
func TestClonerRefusals(t *testing.T) {
	target := gen.Claim("golden", gen.WithCloneRequest("src/golden-pvc"))
	u, cs := newTestUpdater(t, target)
	refused := phaseEvent(t, target, events.DataPodPhasePayload{Pod: events.Pod{Name: datapod.CloneTargetPodName("golden")},
		Phase: events.PodFailed, Reason: reason.CloneNotAuthorized, Message: "not cloning src/golden-pvc: forged", Permanent: true})
	require.NoError(t, u.handle(as(t, cloner), refused))
	assert.Equal(t, annotations.PhaseFailed, statusOf(t, cs, "golden").Phase)

	other := gen.Claim("other", gen.WithCloneRequest("src/golden-pvc"))
	u, _ = newTestUpdater(t, other)
	success := phaseEvent(t, other, events.DataPodPhasePayload{Phase: events.PodSucceeded, Reason: reason.CloneSucceeded})
	assert.Error(t, u.handle(as(t, cloner), success), "the cloner cannot finish a clone")
}

package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
)

const imageURL = "http://images.cdi.svc/cirros.qcow2.xz"

// intentSummary is what a test compares: type, subject, and for phases
// the phase.
type intentSummary struct {
	Type, Subject, Phase string
}

func summarize(t *testing.T, intents []Intent) []intentSummary {
	t.Helper()
	var out []intentSummary
	for _, in := range intents {
		s := intentSummary{Type: in.Event.Type(), Subject: in.Subject}
		if in.Event.Type() == events.DataPodPhase {
			var p events.DataPodPhasePayload
			require.NoError(t, events.Decode(in.Event, events.DataPodPhase, &p))
			s.Phase = p.Phase
		}
		out = append(out, s)
	}
	return out
}

func TestIntents(t *testing.T) {
	importGolden := intentSummary{Type: events.ImportRequested, Subject: "import/uid-golden"}
	phase := func(p string) intentSummary {
		return intentSummary{Type: events.DataPodPhase, Subject: "pod/pod-uid-golden", Phase: p}
	}
	runningPod := dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodRunning), container(running()))
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		pods  []*corev1.Pod
		want  []intentSummary
	}{
		{name: "no import request", claim: claim("golden")},
		{name: "new request", claim: claim("golden", withEndpoint(imageURL)), want: []intentSummary{importGolden}},
		{name: "request with pending status, pod gone", claim: claim("golden", withEndpoint(imageURL), withPhase(annotations.PhaseRunning)),
			want: []intentSummary{importGolden}},
		{name: "succeeded", claim: claim("golden", withEndpoint(imageURL), withPhase(annotations.PhaseSucceeded))},
		{name: "failed", claim: claim("golden", withEndpoint(imageURL), withPhase(annotations.PhaseFailed))},
		{name: "finished, pod retained", claim: claim("golden", withEndpoint(imageURL), withPhase(annotations.PhaseSucceeded)),
			pods: []*corev1.Pod{dataPod("golden", podPhaseIs(corev1.PodSucceeded))}},
		{name: "being deleted", claim: claim("golden", withEndpoint(imageURL), deleting()),
			pods: []*corev1.Pod{runningPod}},
		{name: "data pod running", claim: claim("golden", withEndpoint(imageURL)),
			pods: []*corev1.Pod{runningPod}, want: []intentSummary{phase(events.PodRunning)}},
		{name: "data pod failed for good", claim: claim("golden", withEndpoint(imageURL), withPhase(annotations.PhaseRunning)),
			pods: []*corev1.Pod{dataPod("golden", podPhaseIs(corev1.PodRunning), container(terminated(1, "Error", "404")))},
			want: []intentSummary{phase(events.PodFailed)}},
		{name: "data pod evicted: new import", claim: claim("golden", withEndpoint(imageURL), withPhase(annotations.PhaseRunning)),
			pods: []*corev1.Pod{dataPod("golden", podFailed("Evicted", "low on disk"))},
			want: []intentSummary{importGolden, phase(events.PodFailed)}},
		{name: "data pod of an earlier claim of the same name", claim: claim("golden", withEndpoint(imageURL)),
			pods: []*corev1.Pod{dataPod("golden", withClaimUID("uid-old"), podPhaseIs(corev1.PodRunning))},
			want: []intentSummary{importGolden}},
		{name: "data pod, no import request (other kinds of data pods)", claim: claim("golden"),
			pods: []*corev1.Pod{runningPod}, want: []intentSummary{phase(events.PodRunning)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Intents(tt.claim, tt.pods, time.Minute, time.Unix(100, 0))
			require.NoError(t, err)
			assert.Equal(t, tt.want, summarize(t, got))
			for _, in := range got {
				require.NoError(t, in.Event.Validate())
				if in.Event.Type() == events.ImportRequested {
					assert.Equal(t, time.Minute, in.ResendAfter, "import requests are due again while unanswered")
				} else {
					assert.Zero(t, in.ResendAfter, "a phase observation is sent once")
				}
			}
		})
	}
}

func TestImportRequestPayload(t *testing.T) {
	c := claim("golden", withEndpoint(" "+imageURL+" "), withAnnotation(annotations.SecretName, "endpoint-secret"),
		withAnnotation(annotations.ContentType, annotations.ContentTypeArchive))
	got, err := Intents(c, nil, time.Minute, time.Unix(100, 0))
	require.NoError(t, err)
	require.Len(t, got, 1)
	var p events.ImportRequestedPayload
	require.NoError(t, events.Decode(got[0].Event, events.ImportRequested, &p))
	assert.Equal(t, events.ImportRequestedPayload{
		Claim:   events.Claim{Namespace: testNamespace, Name: "golden", UID: "uid-golden"},
		Request: annotations.ImportRequest{Endpoint: imageURL, SecretName: "endpoint-secret", ContentType: annotations.ContentTypeArchive},
	}, p)
}

// TestStatusAnnotationsDoNotMakeNewIntents is the feedback-loop guard:
// whatever status the updater writes on an unfinished claim, the source
// derives the very same import intent (same id), which the ledger does
// not send again before it is due.
func TestStatusAnnotationsDoNotMakeNewIntents(t *testing.T) {
	base := claim("golden", withEndpoint(imageURL))
	first, err := Intents(base, nil, time.Minute, time.Unix(100, 0))
	require.NoError(t, err)
	require.Len(t, first, 1)

	statuses := []annotations.Status{
		{Phase: annotations.PhasePending},
		{Phase: annotations.PhaseRunning, Progress: "45.20%", Restarts: 2, Reason: ReasonImportRetrying, Message: "connection refused"},
		{Phase: annotations.PhaseRunning, Reason: "Evicted", Message: "low on disk"},
		{Progress: "99.99%"},
	}
	for _, s := range statuses {
		updated := base.DeepCopy()
		withStatus(s)(updated)
		updated.Annotations[annotations.ImportPodName] = "importer-golden"
		updated.ResourceVersion = "2"
		got, err := Intents(updated, nil, time.Minute, time.Unix(200, 0))
		require.NoError(t, err)
		require.Len(t, got, 1, "status %+v", s)
		assert.Equal(t, first[0].Event.ID(), got[0].Event.ID(), "status %+v must not make a new intent", s)
		assert.Equal(t, first[0].Subject, got[0].Subject)
	}

	// A changed request is a new intent.
	changed := base.DeepCopy()
	changed.Annotations[annotations.Endpoint] = imageURL + ".v2"
	got, err := Intents(changed, nil, time.Minute, time.Unix(200, 0))
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.NotEqual(t, first[0].Event.ID(), got[0].Event.ID())
}

func TestPhaseIntentIDs(t *testing.T) {
	c := claim("golden", withEndpoint(imageURL))
	pod := dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodRunning), container(running()))
	a, err := Intents(c, []*corev1.Pod{pod}, time.Minute, time.Unix(100, 0))
	require.NoError(t, err)
	b, err := Intents(c, []*corev1.Pod{pod.DeepCopy()}, time.Minute, time.Unix(200, 0))
	require.NoError(t, err)
	assert.Equal(t, a[0].Event.ID(), b[0].Event.ID(), "the same observation has the same id")

	restarted := pod.DeepCopy()
	restarted.Status.ContainerStatuses[0].RestartCount = 1
	restarted.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 3}
	d, err := Intents(c, []*corev1.Pod{restarted}, time.Minute, time.Unix(300, 0))
	require.NoError(t, err)
	assert.NotEqual(t, a[0].Event.ID(), d[0].Event.ID(), "a restart is a new observation")
	assert.Equal(t, a[0].Subject, d[0].Subject)
}

package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

const imageURL = "http://images.cdi.svc/cirros.qcow2.xz"

// testPolicy resends after a minute, then every two; three restarts end
// the work.
var testPolicy = Policy{Resend: Backoff{After: time.Minute, Max: 2 * time.Minute}, MaxRestarts: 3}

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
	deletingGolden := intentSummary{Type: events.ClaimDeleting, Subject: "deleting/uid-golden"}
	phase := func(p string) intentSummary {
		return intentSummary{Type: events.DataPodPhase, Subject: "pod/pod-uid-golden", Phase: p}
	}
	runningPod := gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Running()))
	uploadGolden := intentSummary{Type: events.UploadRequested, Subject: "upload/uid-golden"}
	cloneGolden := intentSummary{Type: events.CloneRequested, Subject: "clone/uid-golden"}
	uploadPod := gen.DataPod(gen.Claim("golden"), gen.Upload(), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
		gen.Container(gen.Running()), gen.Ready(true))
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		pods  []*corev1.Pod
		want  []intentSummary
	}{
		{name: "no import request", claim: gen.Claim("golden")},
		{name: "new request", claim: gen.Claim("golden", gen.WithEndpoint(imageURL)), want: []intentSummary{importGolden}},
		{name: "request with pending status, pod gone", claim: gen.Claim("golden", gen.WithEndpoint(imageURL), gen.WithPhase(annotations.PhaseRunning)),
			want: []intentSummary{importGolden}},
		{name: "succeeded", claim: gen.Claim("golden", gen.WithEndpoint(imageURL), gen.WithPhase(annotations.PhaseSucceeded))},
		{name: "failed", claim: gen.Claim("golden", gen.WithEndpoint(imageURL), gen.WithPhase(annotations.PhaseFailed))},
		{name: "finished, pod retained", claim: gen.Claim("golden", gen.WithEndpoint(imageURL), gen.WithPhase(annotations.PhaseSucceeded)),
			pods: []*corev1.Pod{gen.DataPod(gen.Claim("golden"), gen.PodPhase(corev1.PodSucceeded))}},
		{name: "being deleted, its data pod must go", claim: gen.Claim("golden", gen.WithEndpoint(imageURL), gen.Deleting()),
			pods: []*corev1.Pod{runningPod}, want: []intentSummary{deletingGolden}},
		{name: "being deleted, its data pod is going", claim: gen.Claim("golden", gen.WithEndpoint(imageURL), gen.Deleting()),
			pods: []*corev1.Pod{gen.DataPod(gen.Claim("golden"), gen.PodDeleting())}},
		{name: "being deleted, its pod ended (it keeps nothing)", claim: gen.Claim("golden", gen.WithEndpoint(imageURL), gen.Deleting(), gen.WithPhase(annotations.PhaseSucceeded)),
			pods: []*corev1.Pod{gen.DataPod(gen.Claim("golden"), gen.PodPhase(corev1.PodSucceeded))}},
		{name: "being deleted, no pod", claim: gen.Claim("golden", gen.WithEndpoint(imageURL), gen.Deleting())},
		{name: "restarted too often: Failed", claim: gen.Claim("golden", gen.WithEndpoint(imageURL), gen.WithPhase(annotations.PhaseRunning)),
			pods: []*corev1.Pod{gen.DataPod(gen.Claim("golden"), gen.PodPhase(corev1.PodRunning),
				gen.Container(gen.Waiting("CrashLoopBackOff", ""), gen.Restarts(3), gen.LastTerminated(3, "Error", "timeout")))},
			want: []intentSummary{phase(events.PodFailed)}},
		{name: "data pod running", claim: gen.Claim("golden", gen.WithEndpoint(imageURL)),
			pods: []*corev1.Pod{runningPod}, want: []intentSummary{phase(events.PodRunning)}},
		{name: "data pod failed for good", claim: gen.Claim("golden", gen.WithEndpoint(imageURL), gen.WithPhase(annotations.PhaseRunning)),
			pods: []*corev1.Pod{gen.DataPod(gen.Claim("golden"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Terminated(1, "Error", "404")))},
			want: []intentSummary{phase(events.PodFailed)}},
		{name: "data pod evicted: new import", claim: gen.Claim("golden", gen.WithEndpoint(imageURL), gen.WithPhase(annotations.PhaseRunning)),
			pods: []*corev1.Pod{gen.DataPod(gen.Claim("golden"), gen.PodFailed("Evicted", "low on disk"))},
			want: []intentSummary{importGolden, phase(events.PodFailed)}},
		{name: "data pod of an earlier claim of the same name", claim: gen.Claim("golden", gen.WithEndpoint(imageURL)),
			pods: []*corev1.Pod{gen.DataPod(gen.Claim("golden"), gen.WithClaimUID("uid-old"), gen.PodPhase(corev1.PodRunning))},
			want: []intentSummary{importGolden}},
		{name: "data pod, no import request (other kinds of data pods)", claim: gen.Claim("golden"),
			pods: []*corev1.Pod{runningPod}, want: []intentSummary{phase(events.PodRunning)}},
		{name: "upload target", claim: gen.Claim("golden", gen.WithUploadTarget()), want: []intentSummary{uploadGolden}},
		{name: "upload target that also asks for an import: the uploader's (it refuses)",
			claim: gen.Claim("golden", gen.WithUploadTarget(), gen.WithEndpoint(imageURL)), want: []intentSummary{uploadGolden}},
		{name: "upload pod listening", claim: gen.Claim("golden", gen.WithUploadTarget()),
			pods: []*corev1.Pod{uploadPod}, want: []intentSummary{phase(events.PodRunning)}},
		{name: "upload succeeded", claim: gen.Claim("golden", gen.WithUploadTarget(), gen.WithPhase(annotations.PhaseSucceeded))},
		{name: "upload target being deleted, its pod must go", claim: gen.Claim("golden", gen.WithUploadTarget(), gen.Deleting()),
			pods: []*corev1.Pod{uploadPod}, want: []intentSummary{deletingGolden}},
		{name: "clone", claim: gen.Claim("golden", gen.WithCloneRequest("golden/golden-pvc")), want: []intentSummary{cloneGolden}},
		{name: "clone with its target pod running: asked again (the source pod may be missing)",
			claim: gen.Claim("golden", gen.WithCloneRequest("golden/golden-pvc"), gen.WithPhase(annotations.PhaseRunning)),
			pods:  []*corev1.Pod{runningPod}, want: []intentSummary{cloneGolden, phase(events.PodRunning)}},
		{name: "clone succeeded", claim: gen.Claim("golden", gen.WithCloneRequest("golden/golden-pvc"), gen.WithPhase(annotations.PhaseSucceeded))},
		{name: "clone being deleted", claim: gen.Claim("golden", gen.WithCloneRequest("golden/golden-pvc"), gen.Deleting())},
		{name: "clone request naming no claim (refused at admission)", claim: gen.Claim("golden", gen.WithCloneRequest("golden-pvc"))},
		{name: "upload pod evicted: a new one", claim: gen.Claim("golden", gen.WithUploadTarget(), gen.WithPhase(annotations.PhaseRunning)),
			pods: []*corev1.Pod{gen.DataPod(gen.Claim("golden"), gen.Upload(), gen.PodFailed("Evicted", "low on disk"))},
			want: []intentSummary{uploadGolden, phase(events.PodFailed)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Intents(tt.claim, tt.pods, testPolicy, time.Unix(100, 0))
			require.NoError(t, err)
			assert.Equal(t, tt.want, summarize(t, got))
			for _, in := range got {
				require.NoError(t, in.Event.Validate())
				if in.Event.Type() == events.DataPodPhase {
					assert.Zero(t, in.Resend, "a phase observation is sent once")
				} else {
					assert.Equal(t, testPolicy.Resend, in.Resend, "requests are due again while unanswered")
				}
			}
		})
	}
}

func TestImportRequestPayload(t *testing.T) {
	c := gen.Claim("golden", gen.WithEndpoint(" "+imageURL+" "), gen.WithAnnotation(annotations.SecretName, "endpoint-secret"),
		gen.WithAnnotation(annotations.ContentType, annotations.ContentTypeArchive))
	got, err := Intents(c, nil, testPolicy, time.Unix(100, 0))
	require.NoError(t, err)
	require.Len(t, got, 1)
	var p events.ImportRequestedPayload
	require.NoError(t, events.Decode(got[0].Event, events.ImportRequested, &p))
	assert.Equal(t, events.ImportRequestedPayload{
		Claim:   events.Claim{Namespace: gen.Namespace, Name: "golden", UID: "uid-golden"},
		Request: annotations.ImportRequest{Endpoint: imageURL, SecretName: "endpoint-secret", ContentType: annotations.ContentTypeArchive},
	}, p)
}

func TestUploadRequestPayload(t *testing.T) {
	c := gen.Claim("upload-pvc", gen.WithUploadTarget(), gen.WithAnnotation(annotations.ContentType, annotations.ContentTypeArchive))
	got, err := Intents(c, nil, testPolicy, time.Unix(100, 0))
	require.NoError(t, err)
	require.Len(t, got, 1)
	var p events.UploadRequestedPayload
	require.NoError(t, events.Decode(got[0].Event, events.UploadRequested, &p))
	assert.Equal(t, events.UploadRequestedPayload{
		Claim:   events.Claim{Namespace: gen.Namespace, Name: "upload-pvc", UID: "uid-upload-pvc"},
		Request: annotations.UploadRequest{ContentType: annotations.ContentTypeArchive},
	}, p)
	again, err := Intents(c, nil, testPolicy, time.Unix(200, 0))
	require.NoError(t, err)
	assert.Equal(t, got[0].Event.ID(), again[0].Event.ID(), "the same request keeps its id")
}

func TestCloneRequestPayload(t *testing.T) {
	c := gen.Claim("clone-pvc", gen.WithCloneRequest("golden/golden-pvc"))
	got, err := Intents(c, nil, testPolicy, time.Unix(100, 0))
	require.NoError(t, err)
	require.Len(t, got, 1)
	var p events.CloneRequestedPayload
	require.NoError(t, events.Decode(got[0].Event, events.CloneRequested, &p))
	assert.Equal(t, events.CloneRequestedPayload{
		Claim:  events.Claim{Namespace: gen.Namespace, Name: "clone-pvc", UID: "uid-clone-pvc"},
		Source: annotations.CloneSource{Namespace: "golden", Name: "golden-pvc"},
	}, p)
	running, err := Intents(gen.Claim("clone-pvc", gen.WithCloneRequest("golden/golden-pvc"), gen.WithPhase(annotations.PhaseRunning),
		gen.WithAnnotation(annotations.Progress, "40.00%")), nil, testPolicy, time.Unix(200, 0))
	require.NoError(t, err)
	assert.Equal(t, got[0].Event.ID(), running[0].Event.ID(), "progress does not make a new request")
}

// TestStatusAnnotationsDoNotMakeNewIntents is the feedback-loop guard:
// whatever status the updater writes on an unfinished claim, the source
// derives the very same import intent (same id), which the ledger does
// not send again before it is due.
func TestStatusAnnotationsDoNotMakeNewIntents(t *testing.T) {
	base := gen.Claim("golden", gen.WithEndpoint(imageURL))
	first, err := Intents(base, nil, testPolicy, time.Unix(100, 0))
	require.NoError(t, err)
	require.Len(t, first, 1)

	statuses := []annotations.Status{
		{Phase: annotations.PhasePending},
		{Phase: annotations.PhaseRunning, Progress: "45.20%", Restarts: 2, Reason: reason.ImportRetrying, Message: "connection refused"},
		{Phase: annotations.PhaseRunning, Reason: "Evicted", Message: "low on disk"},
		{Progress: "99.99%"},
	}
	for _, s := range statuses {
		updated := base.DeepCopy()
		gen.WithStatus(s)(updated)
		updated.Annotations[annotations.ImportPodName] = "importer-golden"
		updated.ResourceVersion = "2"
		got, err := Intents(updated, nil, testPolicy, time.Unix(200, 0))
		require.NoError(t, err)
		require.Len(t, got, 1, "status %+v", s)
		assert.Equal(t, first[0].Event.ID(), got[0].Event.ID(), "status %+v must not make a new intent", s)
		assert.Equal(t, first[0].Subject, got[0].Subject)
	}

	// A changed request is a new intent.
	changed := base.DeepCopy()
	changed.Annotations[annotations.Endpoint] = imageURL + ".v2"
	got, err := Intents(changed, nil, testPolicy, time.Unix(200, 0))
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.NotEqual(t, first[0].Event.ID(), got[0].Event.ID())
}

func TestPhaseIntentIDs(t *testing.T) {
	c := gen.Claim("golden", gen.WithEndpoint(imageURL))
	pod := gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Running()))
	a, err := Intents(c, []*corev1.Pod{pod}, testPolicy, time.Unix(100, 0))
	require.NoError(t, err)
	b, err := Intents(c, []*corev1.Pod{pod.DeepCopy()}, testPolicy, time.Unix(200, 0))
	require.NoError(t, err)
	assert.Equal(t, a[0].Event.ID(), b[0].Event.ID(), "the same observation has the same id")

	restarted := pod.DeepCopy()
	restarted.Status.ContainerStatuses[0].RestartCount = 1
	restarted.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 3}
	d, err := Intents(c, []*corev1.Pod{restarted}, testPolicy, time.Unix(300, 0))
	require.NoError(t, err)
	assert.NotEqual(t, a[0].Event.ID(), d[0].Event.ID(), "a restart is a new observation")
	assert.Equal(t, a[0].Subject, d[0].Subject)
}

func TestDeletingPayload(t *testing.T) {
	c := gen.Claim("golden", gen.WithEndpoint(imageURL), gen.Deleting())
	got, err := Intents(c, []*corev1.Pod{
		gen.DataPod(gen.Claim("golden"), gen.PodPhase(corev1.PodRunning)),
		gen.DataPod(gen.Claim("golden", gen.WithUID("uid-old")), gen.WithPodUID("pod-of-an-earlier-golden")),
	}, testPolicy, time.Unix(100, 0))
	require.NoError(t, err)
	require.Len(t, got, 1)
	var p events.ClaimDeletingPayload
	require.NoError(t, events.Decode(got[0].Event, events.ClaimDeleting, &p))
	assert.Equal(t, events.ClaimDeletingPayload{
		Claim: events.Claim{Namespace: gen.Namespace, Name: "golden", UID: "uid-golden"},
		Pods:  []events.Pod{{Name: "importer-golden", UID: "pod-uid-golden"}},
	}, p, "only the claim's own pods")
}

func TestBackoff(t *testing.T) {
	b := Backoff{After: 5 * time.Second, Max: 20 * time.Second}
	var got []time.Duration
	for sends := 1; sends <= 5; sends++ {
		got = append(got, b.delay(sends))
	}
	assert.Equal(t, []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 20 * time.Second, 20 * time.Second}, got)
	assert.Equal(t, time.Minute, Backoff{After: time.Minute}.delay(4), "no Max: fixed")
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
)

const ns = "default"

// Object builders, cert-manager style: claim("golden", withStatus(…)).

type claimOpt func(*corev1.PersistentVolumeClaim)

func claim(name string, opts ...claimOpt) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name, UID: types.UID("uid-" + name), ResourceVersion: "1",
		Annotations: map[string]string{annotations.Endpoint: "http://images.example/disk.img"},
	}}
	for _, o := range opts {
		o(c)
	}
	return c
}

func withUID(uid string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.UID = types.UID(uid) }
}

func withStatus(s annotations.Status) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) {
		for k, v := range s.Annotations() {
			c.Annotations[k] = v
		}
	}
}

func withAnnotation(k, v string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Annotations[k] = v }
}

type podOpt func(*corev1.Pod)

func dataPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("pod-uid-" + name),
		Labels: map[string]string{datapod.LabelManagedBy: datapod.ManagedBy, datapod.LabelKind: datapod.KindImport}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// ownedBy makes the pod a data pod of c: controller reference and label.
func ownedBy(c *corev1.PersistentVolumeClaim) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "PersistentVolumeClaim", Name: c.Name, UID: c.UID,
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
		p.Labels[datapod.LabelClaimUID] = string(c.UID)
	}
}

func labeledFor(uid string) podOpt {
	return func(p *corev1.Pod) { p.Labels[datapod.LabelClaimUID] = uid }
}

// Events, as the data mover and the event source send them.

func ref(c *corev1.PersistentVolumeClaim) events.Claim {
	return events.Claim{Namespace: c.Namespace, Name: c.Name, UID: string(c.UID)}
}

func phaseEvent(t *testing.T, c *corev1.PersistentVolumeClaim, p events.DataPodPhasePayload) cloudevents.Event {
	t.Helper()
	if p.Claim == (events.Claim{}) {
		p.Claim = ref(c)
	}
	if p.Pod.Name == "" {
		p.Pod = events.Pod{Name: datapod.ImportPodName(c.Name), UID: "pod-uid-" + datapod.ImportPodName(c.Name)}
	}
	e, err := events.NewDataPodPhase(p, time.Unix(1700000000, 0))
	require.NoError(t, err)
	return e
}

func succeededEvent(t *testing.T, c *corev1.PersistentVolumeClaim) cloudevents.Event {
	return phaseEvent(t, c, events.DataPodPhasePayload{Phase: events.PodSucceeded, Reason: "ImportSucceeded", Message: "Import Complete"})
}

func progressEvent(t *testing.T, c *corev1.PersistentVolumeClaim, done, total int64) cloudevents.Event {
	t.Helper()
	e, err := events.NewDataPodProgress(events.DataPodProgressPayload{Claim: ref(c),
		Pod: events.Pod{Name: datapod.ImportPodName(c.Name)}, Stage: "Writing", Done: done, Total: total}, time.Unix(1700000000, 0))
	require.NoError(t, err)
	return e
}

// newTestUpdater returns an updater on a fake clientset holding objs; the
// clientset enforces resourceVersions on claim patches like the API server.
func newTestUpdater(t *testing.T, objs ...runtime.Object) (*updater, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	cs.PrependReactor("patch", "persistentvolumeclaims", optimisticPatch(t, cs))
	m, err := newMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	return &updater{kube: cs, now: func() time.Time { return time.Unix(1700000000, 0) }, tries: maxTries, metrics: m}, cs
}

var pvcResource = corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")

// optimisticPatch applies merge patches of claims like the API server: a
// patch naming a resourceVersion other than the stored one is a Conflict,
// and every write bumps the resourceVersion (the fake tracker does
// neither).
func optimisticPatch(t *testing.T, cs *fake.Clientset) clienttesting.ReactionFunc {
	return func(a clienttesting.Action) (bool, runtime.Object, error) {
		pa := a.(clienttesting.PatchAction)
		require.Equal(t, types.MergePatchType, pa.GetPatchType())
		obj, err := cs.Tracker().Get(pvcResource, pa.GetNamespace(), pa.GetName())
		if err != nil {
			return true, nil, err
		}
		cur := obj.(*corev1.PersistentVolumeClaim)
		var p struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		require.NoError(t, json.Unmarshal(pa.GetPatch(), &p))
		if p.Metadata.ResourceVersion != "" && p.Metadata.ResourceVersion != cur.ResourceVersion {
			return true, nil, apierrors.NewConflict(pvcResource.GroupResource(), cur.Name, errors.New("the object has been modified"))
		}
		old, err := json.Marshal(cur)
		require.NoError(t, err)
		merged, err := jsonpatch.MergePatch(old, pa.GetPatch())
		require.NoError(t, err)
		next := &corev1.PersistentVolumeClaim{}
		require.NoError(t, json.Unmarshal(merged, next))
		next.ResourceVersion = bump(cur.ResourceVersion)
		require.NoError(t, cs.Tracker().Update(pvcResource, next, next.Namespace))
		return true, next, nil
	}
}

func bump(rv string) string {
	n, _ := strconv.Atoi(rv)
	return strconv.Itoa(n + 1)
}

// testContext carries a logger that writes to the test's log.
func testContext(t *testing.T) context.Context {
	return logging.WithLogger(context.Background(), zaptest.NewLogger(t).Sugar())
}

// Reading the fake cluster back.

func getClaim(t *testing.T, cs *fake.Clientset, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	c, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return c
}

func statusOf(t *testing.T, cs *fake.Clientset, name string) annotations.Status {
	return annotations.StatusOf(getClaim(t, cs, name).Annotations)
}

func podExists(t *testing.T, cs *fake.Clientset, name string) bool {
	t.Helper()
	_, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	require.NoError(t, err)
	return true
}

func kubeEvents(t *testing.T, cs *fake.Clientset) []corev1.Event {
	t.Helper()
	l, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	return l.Items
}

func count(cs *fake.Clientset, verb, resource string) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			n++
		}
	}
	return n
}

func TestHandleProgress(t *testing.T) {
	golden := claim("golden")
	u, cs := newTestUpdater(t, golden)
	require.NoError(t, u.handle(testContext(t), progressEvent(t, golden, 452, 1000)))

	assert.Equal(t, annotations.Status{Phase: running, Progress: "45.20%", Reason: running}, statusOf(t, cs, "golden"))
	assert.Equal(t, "http://images.example/disk.img", getClaim(t, cs, "golden").Annotations[annotations.Endpoint], "other annotations are kept")
	// The patch is guarded by the resourceVersion that was read.
	var patches []string
	for _, a := range cs.Actions() {
		if pa, ok := a.(clienttesting.PatchAction); ok {
			patches = append(patches, string(pa.GetPatch()))
		}
	}
	require.Len(t, patches, 1)
	assert.JSONEq(t, `{"metadata":{"resourceVersion":"1","annotations":{
		"cdi.kubevirt.io/storage.pod.phase":"Running",
		"cdi.kubevirt.io/storage.import.progress":"45.20%",
		"cdi.kubevirt.io/storage.pod.reason":"Running"}}}`, patches[0])

	// Less progress, or the same again: no write.
	require.NoError(t, u.handle(testContext(t), progressEvent(t, golden, 400, 1000)))
	require.NoError(t, u.handle(testContext(t), progressEvent(t, golden, 452, 1000)))
	assert.Equal(t, 1, count(cs, "patch", "persistentvolumeclaims"))
	assert.Empty(t, kubeEvents(t, cs), "progress records no Events")
}

func TestHandleFinal(t *testing.T) {
	running := annotations.Status{Phase: annotations.PhaseRunning, Progress: "80.00%", Reason: annotations.PhaseRunning}
	podName := datapod.ImportPodName("golden")
	tests := []struct {
		name        string
		claim       *corev1.PersistentVolumeClaim
		pod         *corev1.Pod
		event       func(*testing.T, *corev1.PersistentVolumeClaim) cloudevents.Event
		want        annotations.Status
		wantEvent   corev1.Event
		wantPodGone bool
	}{
		{
			name:        "succeeded deletes the data pod",
			claim:       claim("golden", withStatus(running)),
			pod:         dataPod(podName, ownedBy(claim("golden"))),
			event:       succeededEvent,
			want:        annotations.Status{Phase: succeeded, Progress: "100.00%", Reason: "ImportSucceeded", Message: "Import Complete"},
			wantEvent:   corev1.Event{Type: corev1.EventTypeNormal, Reason: ReasonImportSucceeded, Message: "Import Complete"},
			wantPodGone: true,
		},
		{
			name:      "retainAfterCompletion keeps the data pod",
			claim:     claim("golden", withStatus(running), withAnnotation(annotations.RetainAfterCompletion, "true")),
			pod:       dataPod(podName, ownedBy(claim("golden"))),
			event:     succeededEvent,
			want:      annotations.Status{Phase: succeeded, Progress: "100.00%", Reason: "ImportSucceeded", Message: "Import Complete"},
			wantEvent: corev1.Event{Type: corev1.EventTypeNormal, Reason: ReasonImportSucceeded, Message: "Import Complete"},
		},
		{
			name:      "a pod of another claim is never deleted",
			claim:     claim("golden", withStatus(running)),
			pod:       dataPod(podName, ownedBy(claim("golden", withUID("uid-of-an-earlier-golden")))),
			event:     succeededEvent,
			want:      annotations.Status{Phase: succeeded, Progress: "100.00%", Reason: "ImportSucceeded", Message: "Import Complete"},
			wantEvent: corev1.Event{Type: corev1.EventTypeNormal, Reason: ReasonImportSucceeded, Message: "Import Complete"},
		},
		{
			name:      "a pod whose label names another claim is never deleted",
			claim:     claim("golden", withStatus(running)),
			pod:       dataPod(podName, labeledFor("uid-other")),
			event:     succeededEvent,
			want:      annotations.Status{Phase: succeeded, Progress: "100.00%", Reason: "ImportSucceeded", Message: "Import Complete"},
			wantEvent: corev1.Event{Type: corev1.EventTypeNormal, Reason: ReasonImportSucceeded, Message: "Import Complete"},
		},
		{
			name:      "a pod without owner or label is never deleted",
			claim:     claim("golden", withStatus(running)),
			pod:       dataPod(podName),
			event:     succeededEvent,
			want:      annotations.Status{Phase: succeeded, Progress: "100.00%", Reason: "ImportSucceeded", Message: "Import Complete"},
			wantEvent: corev1.Event{Type: corev1.EventTypeNormal, Reason: ReasonImportSucceeded, Message: "Import Complete"},
		},
		{
			name:  "a permanent failure deletes the pod so it stops restarting",
			claim: claim("golden", withStatus(running)),
			pod:   dataPod(podName, labeledFor("uid-golden")),
			event: func(t *testing.T, c *corev1.PersistentVolumeClaim) cloudevents.Event {
				return phaseEvent(t, c, events.DataPodPhasePayload{Phase: events.PodFailed, Reason: "ErrImportFailed",
					Message: "GET http://images.example/disk.img: 404 Not Found", Permanent: true})
			},
			want: annotations.Status{Phase: failed, Progress: "80.00%", Reason: "ErrImportFailed",
				Message: "GET http://images.example/disk.img: 404 Not Found"},
			wantEvent: corev1.Event{Type: corev1.EventTypeWarning, Reason: ReasonImportFailed,
				Message: "GET http://images.example/disk.img: 404 Not Found"},
			wantPodGone: true,
		},
		{
			name:  "a retryable failure keeps the pod and the claim running",
			claim: claim("golden", withStatus(running)),
			pod:   dataPod(podName, ownedBy(claim("golden"))),
			event: func(t *testing.T, c *corev1.PersistentVolumeClaim) cloudevents.Event {
				return phaseEvent(t, c, events.DataPodPhasePayload{Phase: events.PodFailed, Reason: "ErrImportFailed",
					Message: "dial tcp: connection refused"})
			},
			want:      annotations.Status{Phase: annotations.PhaseRunning, Progress: "80.00%", Reason: "ErrImportFailed", Message: "dial tcp: connection refused"},
			wantEvent: corev1.Event{Type: corev1.EventTypeWarning, Reason: ReasonImportRetrying, Message: "dial tcp: connection refused"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, cs := newTestUpdater(t, tt.claim, tt.pod)
			e := tt.event(t, tt.claim)
			require.NoError(t, u.handle(testContext(t), e))

			assert.Equal(t, tt.want, statusOf(t, cs, "golden"))
			assert.Equal(t, !tt.wantPodGone, podExists(t, cs, podName), "pod kept")
			evs := kubeEvents(t, cs)
			require.Len(t, evs, 1)
			assert.Equal(t, tt.wantEvent.Type, evs[0].Type)
			assert.Equal(t, tt.wantEvent.Reason, evs[0].Reason)
			assert.Equal(t, tt.wantEvent.Message, evs[0].Message)
			assert.Equal(t, corev1.ObjectReference{APIVersion: "v1", Kind: "PersistentVolumeClaim", Namespace: ns,
				Name: "golden", UID: "uid-golden"}, evs[0].InvolvedObject)

			// The same event again (at-least-once delivery): no second
			// write, no second Event.
			patches := count(cs, "patch", "persistentvolumeclaims")
			require.NoError(t, u.handle(testContext(t), e))
			assert.Equal(t, patches, count(cs, "patch", "persistentvolumeclaims"), "no second write")
			assert.Len(t, kubeEvents(t, cs), 1, "no second Event")
			assert.Equal(t, 1, count(cs, "create", "events"))
		})
	}
}

func TestHandleOutOfOrder(t *testing.T) {
	golden := claim("golden")
	pod := dataPod(datapod.ImportPodName("golden"), ownedBy(golden))
	u, cs := newTestUpdater(t, golden, pod)
	ctx := testContext(t)

	require.NoError(t, u.handle(ctx, progressEvent(t, golden, 10, 100)))
	require.NoError(t, u.handle(ctx, succeededEvent(t, golden)))
	want := annotations.Status{Phase: succeeded, Progress: "100.00%", Reason: "ImportSucceeded", Message: "Import Complete"}
	require.Equal(t, want, statusOf(t, cs, "golden"))
	patches := count(cs, "patch", "persistentvolumeclaims")

	// Late events of the same import: none moves the claim back.
	late := []cloudevents.Event{
		progressEvent(t, golden, 90, 100),
		phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodRunning, Restarts: 3}),
		phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodScheduled}),
		phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodFailed, Message: "connection refused"}),
		phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodFailed, Message: "404", Permanent: true}),
	}
	for _, e := range late {
		require.NoError(t, u.handle(ctx, e))
	}
	assert.Equal(t, want, statusOf(t, cs, "golden"))
	assert.Equal(t, patches, count(cs, "patch", "persistentvolumeclaims"), "no write for late events")
	assert.Len(t, kubeEvents(t, cs), 1)
}

func TestHandleConflict(t *testing.T) {
	t.Run("a concurrent write is read again and kept", func(t *testing.T) {
		golden := claim("golden", withStatus(annotations.Status{Phase: running, Progress: "10.00%", Reason: running}))
		u, cs := newTestUpdater(t, golden)
		// Between the updater's first GET and its PATCH another writer
		// (an event handled by another replica) records a restart.
		gets := 0
		cs.PrependReactor("get", "persistentvolumeclaims", func(a clienttesting.Action) (bool, runtime.Object, error) {
			gets++
			obj, err := cs.Tracker().Get(pvcResource, ns, "golden")
			require.NoError(t, err)
			if gets == 1 {
				other := obj.DeepCopyObject().(*corev1.PersistentVolumeClaim)
				other.Annotations[annotations.PodRestarts] = "1"
				other.ResourceVersion = bump(other.ResourceVersion)
				require.NoError(t, cs.Tracker().Update(pvcResource, other, ns))
			}
			return true, obj, nil
		})
		require.NoError(t, u.handle(testContext(t), progressEvent(t, golden, 50, 100)))

		assert.Equal(t, 2, gets, "read again after the conflict")
		assert.Equal(t, annotations.Status{Phase: running, Progress: "50.00%", Restarts: 1, Reason: running}, statusOf(t, cs, "golden"))
		assert.Equal(t, 2, count(cs, "patch", "persistentvolumeclaims"))
	})

	t.Run("the first patch fails with Conflict", func(t *testing.T) {
		golden := claim("golden")
		u, cs := newTestUpdater(t, golden, dataPod(datapod.ImportPodName("golden"), ownedBy(golden)))
		failed := false
		cs.PrependReactor("patch", "persistentvolumeclaims", func(a clienttesting.Action) (bool, runtime.Object, error) {
			if failed {
				return false, nil, nil
			}
			failed = true
			return true, nil, apierrors.NewConflict(pvcResource.GroupResource(), "golden", errors.New("modified"))
		})
		require.NoError(t, u.handle(testContext(t), succeededEvent(t, golden)))
		assert.Equal(t, succeeded, statusOf(t, cs, "golden").Phase)
		assert.Equal(t, 2, count(cs, "patch", "persistentvolumeclaims"))
		assert.Len(t, kubeEvents(t, cs), 1, "one Event for the one transition that was written")
		assert.False(t, podExists(t, cs, datapod.ImportPodName("golden")))
	})

	t.Run("endless conflicts end in a retryable error", func(t *testing.T) {
		golden := claim("golden")
		u, cs := newTestUpdater(t, golden)
		cs.PrependReactor("patch", "persistentvolumeclaims", func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewConflict(pvcResource.GroupResource(), "golden", errors.New("modified"))
		})
		err := u.handle(testContext(t), progressEvent(t, golden, 1, 2))
		require.Error(t, err)
		assert.False(t, function.IsPermanent(err), "the sender must retry")
		assert.Equal(t, maxTries, count(cs, "patch", "persistentvolumeclaims"))
		assert.Empty(t, kubeEvents(t, cs))
	})
}

func TestHandleIgnores(t *testing.T) {
	golden := claim("golden")
	earlier := claim("golden", withUID("uid-of-an-earlier-golden"))
	pod := dataPod(datapod.ImportPodName("golden"), ownedBy(golden))

	t.Run("an event about an earlier claim of the same name", func(t *testing.T) {
		u, cs := newTestUpdater(t, golden, pod)
		require.NoError(t, u.handle(testContext(t), succeededEvent(t, earlier)))
		assert.Equal(t, annotations.Status{}, statusOf(t, cs, "golden"))
		assert.True(t, podExists(t, cs, pod.Name))
		assert.Zero(t, count(cs, "patch", "persistentvolumeclaims"))
	})
	t.Run("a claim that is gone", func(t *testing.T) {
		u, cs := newTestUpdater(t)
		require.NoError(t, u.handle(testContext(t), succeededEvent(t, golden)))
		assert.Zero(t, count(cs, "patch", "persistentvolumeclaims"))
	})
	t.Run("a pod that is gone", func(t *testing.T) {
		u, cs := newTestUpdater(t, golden)
		require.NoError(t, u.handle(testContext(t), succeededEvent(t, golden)))
		assert.Equal(t, succeeded, statusOf(t, cs, "golden").Phase)
	})
	t.Run("an event without pod name cleans up the claim's import pod", func(t *testing.T) {
		u, cs := newTestUpdater(t, golden, pod)
		e, err := events.NewDataPodPhase(events.DataPodPhasePayload{Claim: ref(golden), Phase: events.PodSucceeded}, time.Now())
		require.NoError(t, err)
		require.NoError(t, u.handle(testContext(t), e))
		assert.False(t, podExists(t, cs, pod.Name))
	})
}

func TestHandleErrors(t *testing.T) {
	golden := claim("golden")
	bad := func(mutate func(*cloudevents.Event)) cloudevents.Event {
		e := succeededEvent(t, golden)
		mutate(&e)
		return e
	}
	permanent := []struct {
		name string
		e    cloudevents.Event
	}{
		{"not JSON", bad(func(e *cloudevents.Event) { e.DataEncoded = []byte("{not json") })},
		{"wrong type", bad(func(e *cloudevents.Event) { e.SetType(events.ImportRequested) })},
		{"unknown phase", phaseEvent(t, golden, events.DataPodPhasePayload{Phase: "Exploded"})},
		{"negative restarts", phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodRunning, Restarts: -1})},
		{"no claim", phaseEvent(t, golden, events.DataPodPhasePayload{Claim: events.Claim{UID: "x"}, Phase: events.PodRunning})},
	}
	for _, tt := range permanent {
		t.Run(tt.name, func(t *testing.T) {
			u, cs := newTestUpdater(t, golden)
			err := u.handle(testContext(t), tt.e)
			require.Error(t, err)
			assert.True(t, function.IsPermanent(err), "refused for good: %v", err)
			assert.Empty(t, cs.Actions(), "no API call for a malformed event")
		})
	}

	apiFailure := func(verb, resource string) func(*fake.Clientset) {
		return func(cs *fake.Clientset) {
			cs.PrependReactor(verb, resource, func(clienttesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewInternalError(errors.New("etcd is down"))
			})
		}
	}
	transient := []struct {
		name     string
		breakAPI func(*fake.Clientset)
	}{
		{"get claim", apiFailure("get", "persistentvolumeclaims")},
		{"patch claim", apiFailure("patch", "persistentvolumeclaims")},
		{"get pod", apiFailure("get", "pods")},
		{"delete pod", apiFailure("delete", "pods")},
	}
	for _, tt := range transient {
		t.Run(tt.name, func(t *testing.T) {
			u, cs := newTestUpdater(t, golden, dataPod(datapod.ImportPodName("golden"), ownedBy(golden)))
			tt.breakAPI(cs)
			err := u.handle(testContext(t), succeededEvent(t, golden))
			require.Error(t, err)
			assert.False(t, function.IsPermanent(err), "retried: %v", err)
			assert.ErrorContains(t, err, "etcd is down")
		})
	}

	t.Run("a failed pod delete is retried by the resent event", func(t *testing.T) {
		u, cs := newTestUpdater(t, golden, dataPod(datapod.ImportPodName("golden"), ownedBy(golden)))
		broken := true
		cs.PrependReactor("delete", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
			if broken {
				return true, nil, apierrors.NewInternalError(errors.New("etcd is down"))
			}
			return false, nil, nil
		})
		e := succeededEvent(t, golden)
		require.Error(t, u.handle(testContext(t), e))
		assert.Equal(t, succeeded, statusOf(t, cs, "golden").Phase)
		broken = false
		require.NoError(t, u.handle(testContext(t), e))
		assert.False(t, podExists(t, cs, datapod.ImportPodName("golden")))
		assert.Len(t, kubeEvents(t, cs), 1)
	})

	t.Run("a failed Event create does not fail the update", func(t *testing.T) {
		u, cs := newTestUpdater(t, golden)
		apiFailure("create", "events")(cs)
		require.NoError(t, u.handle(testContext(t), succeededEvent(t, golden)))
		assert.Equal(t, succeeded, statusOf(t, cs, "golden").Phase)
	})
}

func TestStatusPatchRemovesClearedKeys(t *testing.T) {
	c := claim("golden", withStatus(annotations.Status{Phase: pending, Reason: "Unschedulable", Message: "0/1 nodes"}))
	c.Annotations[annotations.PodRestarts] = "0"
	b, err := statusPatch(c, annotations.Status{Phase: running, Progress: "1.00%", Reason: running})
	require.NoError(t, err)
	assert.JSONEq(t, `{"metadata":{"resourceVersion":"1","annotations":{
		"cdi.kubevirt.io/storage.pod.phase":"Running",
		"cdi.kubevirt.io/storage.import.progress":"1.00%",
		"cdi.kubevirt.io/storage.pod.reason":"Running",
		"cdi.kubevirt.io/storage.pod.message":null,
		"cdi.kubevirt.io/storage.pod.restarts":null}}}`, string(b))
}

func TestNewEvent(t *testing.T) {
	long := claim(strings.Repeat("b", 253))
	ev := newEvent(long, kubeEvent{Type: corev1.EventTypeNormal, Reason: ReasonImportSucceeded, Message: "done"}, time.Unix(1700000000, 0))
	assert.Empty(t, validation.IsDNS1123Subdomain(ev.Name), "a valid name")
	cut := newEvent(claim(strings.Repeat("b", 235)+"-x"), kubeEvent{Reason: ReasonImportSucceeded}, time.Unix(1, 0))
	assert.Empty(t, validation.IsDNS1123Subdomain(cut.Name), "a valid name after the cut: %s", cut.Name)
	assert.Equal(t, long.Name, ev.InvolvedObject.Name)

	golden := claim("golden")
	a := newEvent(golden, kubeEvent{Type: corev1.EventTypeNormal, Reason: ReasonImportSucceeded, Message: "done"}, time.Unix(1, 0))
	b := newEvent(golden, kubeEvent{Type: corev1.EventTypeNormal, Reason: ReasonImportSucceeded, Message: "done"}, time.Unix(2, 0))
	assert.Equal(t, a.Name, b.Name, "the same transition, the same name")
	other := newEvent(claim("golden", withUID("uid-2")), kubeEvent{Type: corev1.EventTypeNormal, Reason: ReasonImportSucceeded, Message: "done"}, time.Unix(1, 0))
	assert.NotEqual(t, a.Name, other.Name, "a re-created claim gets its own Events")
	assert.Regexp(t, `^golden\.[0-9a-f]{16}$`, a.Name)
	assert.Equal(t, int32(1), a.Count)
	assert.Equal(t, "cdi-updater", a.Source.Component)
}

func TestOwns(t *testing.T) {
	golden := claim("golden")
	tests := []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"owner and label", dataPod("p", ownedBy(golden)), true},
		{"label only", dataPod("p", labeledFor("uid-golden")), true},
		{"neither", dataPod("p"), false},
		{"owner of another claim", dataPod("p", ownedBy(claim("silver"))), false},
		{"owner matches, label does not", dataPod("p", ownedBy(golden), labeledFor("uid-silver")), false},
		{"owner of another kind with the same UID", dataPod("p", ownedBy(golden), func(p *corev1.Pod) { p.OwnerReferences[0].Kind = "Job" }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, owns(golden, tt.pod))
		})
	}
}

// TestHandleConcurrent delivers one import's events from many goroutines
// at once, as several updater replicas would, each resent until accepted
// like a sender does: the claim ends Succeeded, with one Event.
func TestHandleConcurrent(t *testing.T) {
	golden := claim("golden")
	u, cs := newTestUpdater(t, golden, dataPod(datapod.ImportPodName("golden"), ownedBy(golden)))
	var evs []cloudevents.Event
	for i := int64(1); i <= 20; i++ {
		evs = append(evs, progressEvent(t, golden, i, 20))
	}
	evs = append(evs, phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodRunning, Restarts: 2}), succeededEvent(t, golden))

	ctx := testContext(t)
	var wg sync.WaitGroup
	for _, e := range evs {
		wg.Go(func() {
			for try := 0; u.handle(ctx, e) != nil; try++ {
				if try > 100 {
					t.Errorf("event %s never accepted", e.ID())
					return
				}
			}
		})
	}
	wg.Wait()
	s := statusOf(t, cs, "golden")
	assert.Equal(t, succeeded, s.Phase)
	assert.Equal(t, "100.00%", s.Progress)
	assert.Len(t, kubeEvents(t, cs), 1)
	assert.False(t, podExists(t, cs, datapod.ImportPodName("golden")))
}

// TestHandleFailedPodReplaced: a pod that failed as a whole (evicted) is
// deleted so that a new one can be made; a live pod whose container failed
// is left to the kubelet's restarts and backoff.
func TestHandleFailedPodReplaced(t *testing.T) {
	podName := datapod.ImportPodName("golden")
	evicted := events.DataPodPhasePayload{Phase: events.PodFailed, Reason: "Evicted", Message: "The node was low on resource: ephemeral-storage."}
	retrying := events.DataPodPhasePayload{Phase: events.PodFailed, Reason: "ErrImportFailed", Message: "connection refused"}
	tests := []struct {
		name     string
		podPhase corev1.PodPhase
		event    events.DataPodPhasePayload
		wantGone bool
	}{
		{"evicted pod is deleted", corev1.PodFailed, evicted, true},
		{"live pod with a failed container is kept", corev1.PodRunning, retrying, false},
		{"pending pod is kept", corev1.PodPending, evicted, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := claim("golden", withStatus(annotations.Status{Phase: annotations.PhaseRunning}))
			pod := dataPod(podName, ownedBy(c))
			pod.Status.Phase = tt.podPhase
			u, cs := newTestUpdater(t, c, pod)
			require.NoError(t, u.handle(testContext(t), phaseEvent(t, c, tt.event)))
			assert.Equal(t, tt.wantGone, !podExists(t, cs, podName))
			assert.Equal(t, annotations.PhaseRunning, statusOf(t, cs, "golden").Phase, "a retryable failure is not final")
		})
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/internal/functest"
	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/internal/kubetest"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

const ns = gen.Namespace

// The component identities the updater trusts in these tests.
var (
	eventSource = auth.Identity{Username: "system:serviceaccount:cdi:cdi-eventsource",
		ServiceAccount: &auth.ServiceAccount{Namespace: "cdi", Name: "cdi-eventsource"}}
	importer = auth.Identity{Username: "system:serviceaccount:cdi:cdi-importer",
		ServiceAccount: &auth.ServiceAccount{Namespace: "cdi", Name: "cdi-importer"}}
	uploader = auth.Identity{Username: "system:serviceaccount:cdi:cdi-uploader",
		ServiceAccount: &auth.ServiceAccount{Namespace: "cdi", Name: "cdi-uploader"}}
	cloner = auth.Identity{Username: "system:serviceaccount:cdi:cdi-cloner",
		ServiceAccount: &auth.ServiceAccount{Namespace: "cdi", Name: "cdi-cloner"}}
	testSenders = senders{eventSource: eventSource.Username, importer: importer.Username, uploader: uploader.Username,
		cloner: cloner.Username}
)

// podIdentity is the identity of a token bound to pod (its namespace's
// default ServiceAccount, as data pods run).
func podIdentity(pod *corev1.Pod) auth.Identity {
	return auth.Identity{Username: auth.ServiceAccountUser(pod.Namespace, "default"),
		ServiceAccount: &auth.ServiceAccount{Namespace: pod.Namespace, Name: "default"},
		Pod:            &auth.Pod{Name: pod.Name, UID: string(pod.UID)}}
}

// as is a context for handling an event sent by id, with a logger that
// writes to the test's log.
func as(t *testing.T, id auth.Identity) context.Context {
	return auth.WithIdentity(logging.WithLogger(context.Background(), zaptest.NewLogger(t).Sugar()), id)
}

// Events, as the data mover, the event source and the importer send them.

func ref(c *corev1.PersistentVolumeClaim) events.Claim {
	return events.Claim{Namespace: c.Namespace, Name: c.Name, UID: string(c.UID)}
}

// podRef names gen.DataPod(c).
func podRef(c *corev1.PersistentVolumeClaim) events.Pod {
	return events.Pod{Name: datapod.ImportPodName(c.Name), UID: "pod-uid-" + c.Name}
}

func phaseEvent(t *testing.T, c *corev1.PersistentVolumeClaim, p events.DataPodPhasePayload) cloudevents.Event {
	t.Helper()
	if p.Claim == (events.Claim{}) {
		p.Claim = ref(c)
	}
	if p.Pod.Name == "" {
		p.Pod = podRef(c)
	}
	e, err := events.NewDataPodPhase(p, time.Unix(1700000000, 0))
	require.NoError(t, err)
	return e
}

func succeededEvent(t *testing.T, c *corev1.PersistentVolumeClaim) cloudevents.Event {
	return phaseEvent(t, c, events.DataPodPhasePayload{Phase: events.PodSucceeded, Reason: reason.ImportSucceeded, Message: "Import Complete"})
}

func progressEvent(t *testing.T, c *corev1.PersistentVolumeClaim, done, total int64) cloudevents.Event {
	t.Helper()
	e, err := events.NewDataPodProgress(events.DataPodProgressPayload{Claim: ref(c),
		Pod: podRef(c), Stage: "Writing", Done: done, Total: total}, time.Unix(1700000000, 0))
	require.NoError(t, err)
	return e
}

// newTestUpdater returns an updater on a fake clientset holding objs; the
// clientset enforces resourceVersions on claim patches like the API server.
func newTestUpdater(t *testing.T, objs ...runtime.Object) (*updater, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	cs.PrependReactor("patch", "persistentvolumeclaims", optimisticPatch(t, cs))
	u, err := newUpdater(cs, functest.NewMeter(), testSenders, func() time.Time { return time.Unix(1700000000, 0) })
	require.NoError(t, err)
	return u, cs
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

// The updater's API actions, for kubetest.Expect.
const (
	getGolden     = "get persistentvolumeclaims default/golden"
	patchGolden   = "patch persistentvolumeclaims default/golden"
	getGoldenPod  = "get pods default/importer-golden"
	delGoldenPod  = "delete pods default/importer-golden"
	eventOnGolden = "create events default/golden.*"
)

func TestHandleProgress(t *testing.T) {
	golden := gen.ImportClaim("golden")
	pod := gen.DataPod(golden, gen.PodPhase(corev1.PodRunning))
	u, cs := newTestUpdater(t, golden, pod)
	ctx := as(t, podIdentity(pod))
	require.NoError(t, u.handle(ctx, progressEvent(t, golden, 452, 1000)))
	// Less progress, or the same again: no write, and the pod's claim is
	// known without asking again.
	require.NoError(t, u.handle(ctx, progressEvent(t, golden, 400, 1000)))
	require.NoError(t, u.handle(ctx, progressEvent(t, golden, 452, 1000)))
	kubetest.Expect(t, cs,
		getGoldenPod, getGolden, patchGolden, // authorize, read, write
		getGolden, getGolden)

	// The patch is guarded by the resourceVersion that was read.
	patches := kubetest.Patches(cs)
	require.Len(t, patches, 1)
	assert.JSONEq(t, `{"metadata":{"resourceVersion":"1","annotations":{
		"cdi.kubevirt.io/storage.pod.phase":"Running",
		"cdi.kubevirt.io/storage.import.progress":"45.20%",
		"cdi.kubevirt.io/storage.pod.reason":"Running"}}}`, patches[0])
	assert.Equal(t, annotations.Status{Phase: running, Progress: "45.20%", Reason: running}, statusOf(t, cs, "golden"))
	assert.Equal(t, "http://images.example/disk.img", getClaim(t, cs, "golden").Annotations[annotations.Endpoint], "other annotations are kept")
	assert.Empty(t, kubeEvents(t, cs), "progress records no Events")
}

func TestHandleFinal(t *testing.T) {
	st := annotations.Status{Phase: annotations.PhaseRunning, Progress: "80.00%", Reason: annotations.PhaseRunning}
	golden := gen.ImportClaim("golden", gen.WithStatus(st))
	podName := datapod.ImportPodName("golden")
	succeededStatus := annotations.Status{Phase: succeeded, Progress: "100.00%", Reason: reason.ImportSucceeded, Message: "Import Complete"}
	okEvent := corev1.Event{Type: corev1.EventTypeNormal, Reason: reason.ImportSucceeded, Message: "Import Complete"}
	tests := []struct {
		name        string
		claim       *corev1.PersistentVolumeClaim
		pod         *corev1.Pod
		sender      auth.Identity
		event       func(*testing.T, *corev1.PersistentVolumeClaim) cloudevents.Event
		want        annotations.Status
		wantEvent   corev1.Event
		wantPodGone bool
		wantActions []string
	}{
		{
			name: "succeeded (from the pod's status) deletes the data pod", claim: golden, pod: gen.DataPod(golden),
			sender: eventSource, event: succeededEvent, want: succeededStatus, wantEvent: okEvent, wantPodGone: true,
			wantActions: []string{getGolden, patchGolden, eventOnGolden, getGoldenPod, delGoldenPod},
		},
		{
			name: "succeeded (from the data pod itself) is checked against the current pod", claim: golden, pod: gen.DataPod(golden),
			sender: podIdentity(gen.DataPod(golden)), event: succeededEvent, want: succeededStatus, wantEvent: okEvent, wantPodGone: true,
			wantActions: []string{getGoldenPod, getGolden, patchGolden, eventOnGolden, getGoldenPod, delGoldenPod},
		},
		{
			name:  "retainAfterCompletion keeps the data pod",
			claim: gen.ImportClaim("golden", gen.WithStatus(st), gen.WithAnnotation(annotations.RetainAfterCompletion, "true")),
			pod:   gen.DataPod(golden), sender: eventSource, event: succeededEvent, want: succeededStatus, wantEvent: okEvent,
			wantActions: []string{getGolden, patchGolden, eventOnGolden},
		},
		{
			name: "a pod of an earlier claim of that name is never deleted", claim: golden,
			pod:    gen.DataPod(gen.ImportClaim("golden", gen.WithUID("uid-of-an-earlier-golden"))),
			sender: eventSource, event: succeededEvent, want: succeededStatus, wantEvent: okEvent,
			wantActions: []string{getGolden, patchGolden, eventOnGolden, getGoldenPod},
		},
		{
			name: "a pod whose label names another claim is never deleted", claim: golden,
			pod:    gen.DataPod(golden, gen.WithClaimUID("uid-other")),
			sender: eventSource, event: succeededEvent, want: succeededStatus, wantEvent: okEvent,
			wantActions: []string{getGolden, patchGolden, eventOnGolden, getGoldenPod},
		},
		{
			name: "a pod without owner or label is never deleted", claim: golden,
			pod:    gen.DataPod(golden, gen.WithoutOwner(), func(p *corev1.Pod) { delete(p.Labels, datapod.LabelClaimUID) }),
			sender: eventSource, event: succeededEvent, want: succeededStatus, wantEvent: okEvent,
			wantActions: []string{getGolden, patchGolden, eventOnGolden, getGoldenPod},
		},
		{
			name: "a permanent failure deletes the pod so it stops restarting", claim: golden, pod: gen.DataPod(golden),
			sender: eventSource,
			event: func(t *testing.T, c *corev1.PersistentVolumeClaim) cloudevents.Event {
				return phaseEvent(t, c, events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.ImportFailed,
					Message: "GET http://images.example/disk.img: 404 Not Found", Permanent: true})
			},
			want: annotations.Status{Phase: failed, Progress: "80.00%", Reason: reason.ImportFailed,
				Message: "GET http://images.example/disk.img: 404 Not Found"},
			wantEvent: corev1.Event{Type: corev1.EventTypeWarning, Reason: reason.ImportFailed,
				Message: "GET http://images.example/disk.img: 404 Not Found"},
			wantPodGone: true,
			wantActions: []string{getGolden, patchGolden, eventOnGolden, getGoldenPod, delGoldenPod},
		},
		{
			name: "a retryable failure keeps the pod and the claim running", claim: golden,
			pod: gen.DataPod(golden, gen.PodPhase(corev1.PodRunning)), sender: eventSource,
			event: func(t *testing.T, c *corev1.PersistentVolumeClaim) cloudevents.Event {
				return phaseEvent(t, c, events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.ImportFailed,
					Message: "dial tcp: connection refused"})
			},
			want:        annotations.Status{Phase: annotations.PhaseRunning, Progress: "80.00%", Reason: reason.ImportFailed, Message: "dial tcp: connection refused"},
			wantEvent:   corev1.Event{Type: corev1.EventTypeWarning, Reason: reason.ImportRetrying, Message: "dial tcp: connection refused"},
			wantActions: []string{getGolden, patchGolden, eventOnGolden, getGoldenPod},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, cs := newTestUpdater(t, tt.claim, tt.pod)
			e := tt.event(t, tt.claim)
			require.NoError(t, u.handle(as(t, tt.sender), e))

			kubetest.Expect(t, cs, tt.wantActions...)
			assert.Equal(t, tt.want, statusOf(t, cs, "golden"))
			assert.Equal(t, !tt.wantPodGone, podExists(t, cs, podName), "pod kept")
			evs := kubeEvents(t, cs)
			require.Len(t, evs, 1)
			assert.Equal(t, tt.wantEvent.Type, evs[0].Type)
			assert.Equal(t, tt.wantEvent.Reason, evs[0].Reason)
			assert.Equal(t, tt.wantEvent.Message, evs[0].Message)
			assert.Equal(t, corev1.ObjectReference{APIVersion: "v1", Kind: "PersistentVolumeClaim", Namespace: ns,
				Name: "golden", UID: "uid-golden"}, evs[0].InvolvedObject)

			// The same event again (at-least-once delivery) from the
			// event source: no second write, no second Event.
			patches := count(cs, "patch", "persistentvolumeclaims")
			require.NoError(t, u.handle(as(t, eventSource), e))
			assert.Equal(t, patches, count(cs, "patch", "persistentvolumeclaims"), "no second write")
			assert.Len(t, kubeEvents(t, cs), 1, "no second Event")
			assert.Equal(t, 1, count(cs, "create", "events"))
		})
	}
}

// TestAuthorize: events a sender may not send are refused (403) and write
// nothing; the victim's claim is untouched.
func TestAuthorize(t *testing.T) {
	golden := gen.ImportClaim("golden")
	silver := gen.ImportClaim("silver")
	goldenPod := gen.DataPod(golden, gen.PodPhase(corev1.PodRunning))
	silverPod := gen.DataPod(silver, gen.PodPhase(corev1.PodRunning))
	otherNS := gen.DataPod(gen.ImportClaim("mine", gen.InNamespace("attacker")))
	replaced := gen.DataPod(golden, gen.WithPodUID("pod-uid-golden-2"))
	stranger := auth.Identity{Username: "system:serviceaccount:cdi:default", ServiceAccount: &auth.ServiceAccount{Namespace: "cdi", Name: "default"}}
	refusal := func(t *testing.T, phase string, r string, permanent bool) cloudevents.Event {
		return phaseEvent(t, golden, events.DataPodPhasePayload{Pod: events.Pod{Name: datapod.ImportPodName("golden")},
			Phase: phase, Reason: r, Message: "m", Permanent: permanent})
	}
	tests := []struct {
		name        string
		objects     []runtime.Object
		sender      auth.Identity
		event       cloudevents.Event
		wantErr     string // empty: allowed
		wantActions []string
	}{
		{
			name: "a data pod of another claim finishes this one", objects: []runtime.Object{golden, silver, goldenPod, silverPod},
			sender: podIdentity(silverPod), event: phaseEvent(t, golden, events.DataPodPhasePayload{Pod: podRef(silver), Phase: events.PodSucceeded}),
			wantErr: "does not fill the claim with uid uid-golden", wantActions: []string{"get pods default/importer-silver"},
		},
		{
			name: "a data pod names another pod", objects: []runtime.Object{golden, silver, goldenPod, silverPod},
			sender: podIdentity(silverPod), event: succeededEvent(t, golden),
			wantErr: "the event names pod importer-golden (uid pod-uid-golden) but was sent by pod importer-silver",
		},
		{
			name: "a pod of another namespace", objects: []runtime.Object{golden, goldenPod},
			sender: podIdentity(otherNS), event: succeededEvent(t, golden),
			wantErr: "may not report on claims of namespace default",
		},
		{
			name: "a data pod reports a phase only the kubelet knows", objects: []runtime.Object{golden, goldenPod},
			sender: podIdentity(goldenPod), event: phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodPending}),
			wantErr: "a data pod reports no Pending phase",
		},
		{
			name: "a late final event of a replaced pod", objects: []runtime.Object{golden, replaced},
			sender: podIdentity(goldenPod), event: succeededEvent(t, golden),
			wantErr: "is not the claim's current data pod", wantActions: []string{getGoldenPod},
		},
		{
			name: "a late final event of a deleted pod", objects: []runtime.Object{golden},
			sender: podIdentity(goldenPod), event: succeededEvent(t, golden),
			wantErr: "no longer exists", wantActions: []string{getGoldenPod},
		},
		{
			name: "the importer finishes an import", objects: []runtime.Object{golden, goldenPod},
			sender: importer, event: succeededEvent(t, golden), wantErr: "the importer may only report its refusals",
		},
		{
			name: "the importer claims a refusal with a pod UID", objects: []runtime.Object{golden},
			sender: importer, event: phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.InvalidRequest, Permanent: true}),
			wantErr: "the importer may only report its refusals",
		},
		{
			name: "the importer's refusal", objects: []runtime.Object{golden},
			sender: importer, event: refusal(t, events.PodPending, reason.MissingSecret, false),
			wantActions: []string{getGolden, patchGolden},
		},
		{
			name: "the importer's final refusal", objects: []runtime.Object{golden},
			sender: importer, event: refusal(t, events.PodFailed, reason.InvalidRequest, true),
			wantActions: []string{getGolden, patchGolden, eventOnGolden, getGoldenPod},
		},
		{
			name: "the uploader's refusal", objects: []runtime.Object{golden},
			sender: uploader, event: refusal(t, events.PodPending, reason.CreatePod, false),
			wantActions: []string{getGolden, patchGolden},
		},
		{
			name: "the uploader finishes an upload", objects: []runtime.Object{golden, goldenPod},
			sender: uploader, event: succeededEvent(t, golden), wantErr: "the uploader may only report its refusals",
		},
		{
			name: "the uploader claims the pod is ready", objects: []runtime.Object{golden},
			sender: uploader, event: phaseEvent(t, golden, events.DataPodPhasePayload{Pod: events.Pod{Name: "cdi-upload-golden"},
				Phase: events.PodPending, Reason: reason.CreatePod, Ready: ptr.To(true)}),
			wantErr: "the uploader may only report its refusals",
		},
		{
			name: "the event source sends progress", objects: []runtime.Object{golden},
			sender: eventSource, event: progressEvent(t, golden, 1, 2), wantErr: "the event source sends no",
		},
		{
			name: "another ServiceAccount of the system namespace", objects: []runtime.Object{golden, goldenPod},
			sender: stranger, event: succeededEvent(t, golden), wantErr: "may not report on data pods",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, cs := newTestUpdater(t, tt.objects...)
			err := u.handle(as(t, tt.sender), tt.event)
			kubetest.Expect(t, cs, tt.wantActions...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, auth.ErrForbidden)
			assert.ErrorContains(t, err, tt.wantErr)
			assert.Equal(t, annotations.Status{}, statusOf(t, cs, "golden"), "nothing written")
		})
	}
}

func TestHandleOutOfOrder(t *testing.T) {
	golden := gen.ImportClaim("golden")
	pod := gen.DataPod(golden, gen.PodPhase(corev1.PodRunning))
	u, cs := newTestUpdater(t, golden, pod)
	fromPod, fromSource := as(t, podIdentity(pod)), as(t, eventSource)

	require.NoError(t, u.handle(fromPod, progressEvent(t, golden, 10, 100)))
	require.NoError(t, u.handle(fromSource, succeededEvent(t, golden)))
	want := annotations.Status{Phase: succeeded, Progress: "100.00%", Reason: reason.ImportSucceeded, Message: "Import Complete"}
	require.Equal(t, want, statusOf(t, cs, "golden"))
	patches := count(cs, "patch", "persistentvolumeclaims")

	// Late events of the same import: none moves the claim back.
	late := []cloudevents.Event{
		phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodRunning, Restarts: 3}),
		phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodScheduled}),
		phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodFailed, Message: "connection refused"}),
		phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodFailed, Message: "404", Permanent: true}),
	}
	for _, e := range late {
		require.NoError(t, u.handle(fromSource, e))
	}
	assert.Equal(t, want, statusOf(t, cs, "golden"))
	assert.Equal(t, patches, count(cs, "patch", "persistentvolumeclaims"), "no write for late events")
	assert.Len(t, kubeEvents(t, cs), 1)
}

func TestHandleConflict(t *testing.T) {
	t.Run("a concurrent write is read again and kept", func(t *testing.T) {
		golden := gen.ImportClaim("golden", gen.WithStatus(annotations.Status{Phase: running, Progress: "10.00%", Reason: running}))
		pod := gen.DataPod(golden, gen.PodPhase(corev1.PodRunning))
		u, cs := newTestUpdater(t, golden, pod)
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
		require.NoError(t, u.handle(as(t, podIdentity(pod)), progressEvent(t, golden, 50, 100)))

		assert.Equal(t, 2, gets, "read again after the conflict")
		assert.Equal(t, annotations.Status{Phase: running, Progress: "50.00%", Restarts: 1, Reason: running}, statusOf(t, cs, "golden"))
		assert.Equal(t, 2, count(cs, "patch", "persistentvolumeclaims"))
	})

	t.Run("the first patch fails with Conflict", func(t *testing.T) {
		golden := gen.ImportClaim("golden")
		u, cs := newTestUpdater(t, golden, gen.DataPod(golden))
		failed := false
		cs.PrependReactor("patch", "persistentvolumeclaims", func(a clienttesting.Action) (bool, runtime.Object, error) {
			if failed {
				return false, nil, nil
			}
			failed = true
			return true, nil, apierrors.NewConflict(pvcResource.GroupResource(), "golden", errors.New("modified"))
		})
		require.NoError(t, u.handle(as(t, eventSource), succeededEvent(t, golden)))
		assert.Equal(t, succeeded, statusOf(t, cs, "golden").Phase)
		assert.Equal(t, 2, count(cs, "patch", "persistentvolumeclaims"))
		assert.Len(t, kubeEvents(t, cs), 1, "one Event for the one transition that was written")
		assert.False(t, podExists(t, cs, datapod.ImportPodName("golden")))
	})

	t.Run("endless conflicts end in a retryable error", func(t *testing.T) {
		golden := gen.ImportClaim("golden")
		u, cs := newTestUpdater(t, golden)
		cs.PrependReactor("patch", "persistentvolumeclaims", func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewConflict(pvcResource.GroupResource(), "golden", errors.New("modified"))
		})
		err := u.handle(as(t, eventSource), phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodRunning}))
		require.Error(t, err)
		assert.False(t, function.IsPermanent(err), "the sender must retry")
		assert.Equal(t, maxTries, count(cs, "patch", "persistentvolumeclaims"))
		assert.Empty(t, kubeEvents(t, cs))
	})
}

func TestHandleIgnores(t *testing.T) {
	golden := gen.ImportClaim("golden")
	earlier := gen.ImportClaim("golden", gen.WithUID("uid-of-an-earlier-golden"))
	pod := gen.DataPod(golden)

	t.Run("an event about an earlier claim of the same name", func(t *testing.T) {
		u, cs := newTestUpdater(t, golden, pod)
		require.NoError(t, u.handle(as(t, eventSource), succeededEvent(t, earlier)))
		kubetest.Expect(t, cs, getGolden)
		assert.True(t, podExists(t, cs, pod.Name))
	})
	t.Run("a claim that is gone", func(t *testing.T) {
		u, cs := newTestUpdater(t)
		require.NoError(t, u.handle(as(t, eventSource), succeededEvent(t, golden)))
		kubetest.Expect(t, cs, getGolden)
	})
	t.Run("a pod that is gone", func(t *testing.T) {
		u, cs := newTestUpdater(t, golden)
		require.NoError(t, u.handle(as(t, eventSource), succeededEvent(t, golden)))
		assert.Equal(t, succeeded, statusOf(t, cs, "golden").Phase)
	})
	t.Run("an event without pod name cleans up the claim's import pod", func(t *testing.T) {
		u, cs := newTestUpdater(t, golden, pod)
		e, err := events.NewDataPodPhase(events.DataPodPhasePayload{Claim: ref(golden), Phase: events.PodSucceeded}, time.Now())
		require.NoError(t, err)
		require.NoError(t, u.handle(as(t, eventSource), e))
		assert.False(t, podExists(t, cs, pod.Name))
	})
}

func TestHandleErrors(t *testing.T) {
	golden := gen.ImportClaim("golden")
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
		{"no claim uid", phaseEvent(t, golden, events.DataPodPhasePayload{Claim: events.Claim{Namespace: ns, Name: "golden"}, Phase: events.PodSucceeded})},
	}
	for _, tt := range permanent {
		t.Run(tt.name, func(t *testing.T) {
			u, cs := newTestUpdater(t, golden)
			err := u.handle(as(t, eventSource), tt.e)
			require.Error(t, err)
			assert.True(t, function.IsPermanent(err), "refused for good: %v", err)
			kubetest.Expect(t, cs) // no API call for a malformed event
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
			u, cs := newTestUpdater(t, golden, gen.DataPod(golden))
			tt.breakAPI(cs)
			err := u.handle(as(t, eventSource), succeededEvent(t, golden))
			require.Error(t, err)
			assert.False(t, function.IsPermanent(err), "retried: %v", err)
			assert.ErrorContains(t, err, "etcd is down")
		})
	}

	t.Run("a data pod's event when its pod cannot be read is retried", func(t *testing.T) {
		pod := gen.DataPod(golden)
		u, cs := newTestUpdater(t, golden, pod)
		apiFailure("get", "pods")(cs)
		err := u.handle(as(t, podIdentity(pod)), succeededEvent(t, golden))
		require.Error(t, err)
		assert.NotErrorIs(t, err, auth.ErrForbidden)
		assert.False(t, function.IsPermanent(err))
		assert.Zero(t, count(cs, "patch", "persistentvolumeclaims"))
	})

	t.Run("a failed pod delete is retried by the resent event", func(t *testing.T) {
		u, cs := newTestUpdater(t, golden, gen.DataPod(golden))
		broken := true
		cs.PrependReactor("delete", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
			if broken {
				return true, nil, apierrors.NewInternalError(errors.New("etcd is down"))
			}
			return false, nil, nil
		})
		e := succeededEvent(t, golden)
		require.Error(t, u.handle(as(t, eventSource), e))
		assert.Equal(t, succeeded, statusOf(t, cs, "golden").Phase)
		broken = false
		require.NoError(t, u.handle(as(t, eventSource), e))
		assert.False(t, podExists(t, cs, datapod.ImportPodName("golden")))
		assert.Len(t, kubeEvents(t, cs), 1)
	})

	t.Run("a failed Event create does not fail the update", func(t *testing.T) {
		u, cs := newTestUpdater(t, golden)
		apiFailure("create", "events")(cs)
		require.NoError(t, u.handle(as(t, eventSource), succeededEvent(t, golden)))
		assert.Equal(t, succeeded, statusOf(t, cs, "golden").Phase)
	})
}

func TestStatusPatchRemovesClearedKeys(t *testing.T) {
	c := gen.ImportClaim("golden", gen.WithStatus(annotations.Status{Phase: pending, Reason: "Unschedulable", Message: "0/1 nodes"}))
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

// TestHandleConcurrent delivers one import's events from many goroutines
// at once, as several updater replicas would, each resent until accepted
// like a sender does: the claim ends Succeeded, with one Event.
func TestHandleConcurrent(t *testing.T) {
	golden := gen.ImportClaim("golden")
	pod := gen.DataPod(golden, gen.PodPhase(corev1.PodRunning))
	u, cs := newTestUpdater(t, golden, pod)
	type sent struct {
		ctx context.Context
		e   cloudevents.Event
	}
	fromPod := as(t, podIdentity(pod))
	var evs []sent
	for i := int64(1); i <= 20; i++ {
		evs = append(evs, sent{fromPod, progressEvent(t, golden, i, 20)})
	}
	evs = append(evs, sent{as(t, eventSource), phaseEvent(t, golden, events.DataPodPhasePayload{Phase: events.PodRunning, Restarts: 2})},
		sent{fromPod, succeededEvent(t, golden)})

	var wg sync.WaitGroup
	for _, s := range evs {
		wg.Go(func() {
			for try := 0; u.handle(s.ctx, s.e) != nil; try++ {
				if try > 100 {
					t.Errorf("event %s never accepted", s.e.ID())
					return
				}
			}
		})
	}
	wg.Wait()
	st := statusOf(t, cs, "golden")
	assert.Equal(t, succeeded, st.Phase)
	assert.Equal(t, "100.00%", st.Progress)
	assert.Len(t, kubeEvents(t, cs), 1)
	assert.False(t, podExists(t, cs, datapod.ImportPodName("golden")))
}

// TestHandleFailedPodReplaced: a pod that failed as a whole (evicted) is
// deleted so that a new one can be made; a live pod whose container failed
// is left to the kubelet's restarts and backoff.
func TestHandleFailedPodReplaced(t *testing.T) {
	podName := datapod.ImportPodName("golden")
	evicted := events.DataPodPhasePayload{Phase: events.PodFailed, Reason: "Evicted", Message: "The node was low on resource: ephemeral-storage."}
	retrying := events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.ImportFailed, Message: "connection refused"}
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
			c := gen.ImportClaim("golden", gen.WithStatus(annotations.Status{Phase: annotations.PhaseRunning}))
			u, cs := newTestUpdater(t, c, gen.DataPod(c, gen.PodPhase(tt.podPhase)))
			require.NoError(t, u.handle(as(t, eventSource), phaseEvent(t, c, tt.event)))
			assert.Equal(t, tt.wantGone, !podExists(t, cs, podName))
			assert.Equal(t, annotations.PhaseRunning, statusOf(t, cs, "golden").Phase, "a retryable failure is not final")
		})
	}
}

// TestClaimDeleting: the data pods of a claim being deleted go, so the
// claim can; only when the event source asks and the claim really is
// being deleted, and only the claim's own pods.
func TestClaimDeleting(t *testing.T) {
	deleting := gen.ImportClaim("golden", gen.Deleting())
	live := gen.ImportClaim("golden")
	pod := gen.DataPod(live, gen.PodPhase(corev1.PodRunning))
	notOwned := gen.DataPod(gen.ImportClaim("golden", gen.WithUID("other")))
	ask := func(t *testing.T, c *corev1.PersistentVolumeClaim, pods ...events.Pod) cloudevents.Event {
		e, err := events.NewClaimDeleting(events.ClaimDeletingPayload{Claim: ref(c), Pods: pods}, time.Unix(1, 0))
		require.NoError(t, err)
		return e
	}
	tests := []struct {
		name        string
		objects     []runtime.Object
		sender      auth.Identity
		event       func(*testing.T) cloudevents.Event
		wantErr     error
		wantPodGone bool
		wantActions []string
	}{
		{
			name: "the data pod of a claim being deleted is deleted", objects: []runtime.Object{deleting, pod}, sender: eventSource,
			event: func(t *testing.T) cloudevents.Event { return ask(t, deleting, podRef(live)) }, wantPodGone: true,
			wantActions: []string{getGolden, getGoldenPod, delGoldenPod},
		},
		{
			name: "a claim that is not being deleted keeps its pod", objects: []runtime.Object{live, pod}, sender: eventSource,
			event:       func(t *testing.T) cloudevents.Event { return ask(t, live, podRef(live)) },
			wantActions: []string{getGolden},
		},
		{
			name: "a pod that is not the claim's is kept", objects: []runtime.Object{deleting, notOwned}, sender: eventSource,
			event:       func(t *testing.T) cloudevents.Event { return ask(t, deleting, podRef(live)) },
			wantActions: []string{getGolden, getGoldenPod},
		},
		{
			name: "only the event source may ask", objects: []runtime.Object{deleting, pod}, sender: podIdentity(pod),
			event: func(t *testing.T) cloudevents.Event { return ask(t, deleting, podRef(live)) }, wantErr: auth.ErrForbidden,
		},
		{
			name: "the claim is gone already", objects: []runtime.Object{pod}, sender: eventSource,
			event:       func(t *testing.T) cloudevents.Event { return ask(t, deleting, podRef(live)) },
			wantActions: []string{getGolden},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, cs := newTestUpdater(t, tt.objects...)
			err := u.handle(as(t, tt.sender), tt.event(t))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			kubetest.Expect(t, cs, tt.wantActions...)
			assert.Equal(t, tt.wantPodGone, !podExists(t, cs, podRef(live).Name))
		})
	}
}

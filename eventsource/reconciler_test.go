package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/reconciler"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// world is a reconciler over listers backed by plain indexers, a sink
// that records what it is sent, and a record of requeues.
type world struct {
	r      *Reconciler
	claims cache.Indexer
	pods   cache.Indexer
	sink   *recorder
	ctx    context.Context

	mu       sync.Mutex
	requeued map[types.NamespacedName]time.Duration
	// skew moves the clock of the reconciler and the emitter (which
	// stands still otherwise).
	skew time.Duration
}

func (w *world) now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Unix(1700000000, 0).Add(w.skew)
}

func newWorld(t *testing.T, sink *recorder, objs ...any) *world {
	t.Helper()
	w := &world{
		claims:   cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}),
		pods:     cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}),
		sink:     sink,
		requeued: map[types.NamespacedName]time.Duration{},
	}
	for _, o := range objs {
		w.put(t, o)
	}
	e, ctx := startEmitter(t, EmitterOptions{Send: sink.send, Retry: sink.retry, QueueSize: 16, Senders: 2, Now: w.now})
	w.ctx = ctx
	w.r = &Reconciler{
		Claims:  corev1listers.NewPersistentVolumeClaimLister(w.claims),
		Pods:    corev1listers.NewPodLister(w.pods),
		Emitter: e,
		Requeue: func(k types.NamespacedName, after time.Duration) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.requeued[k] = after
		},
		Policy: Policy{Resend: Backoff{After: 30 * time.Second, Max: time.Minute}},
		Now:    w.now,
	}
	e.opts.IsLeader = w.r.IsLeaderFor
	require.NoError(t, w.r.Promote(reconciler.UniversalBucket(), nil))
	return w
}

func (w *world) put(t *testing.T, o any) {
	t.Helper()
	switch o := o.(type) {
	case *corev1.PersistentVolumeClaim:
		require.NoError(t, w.claims.Update(o))
	case *corev1.Pod:
		require.NoError(t, w.pods.Update(o))
	default:
		t.Fatalf("unexpected object %T", o)
	}
}

// reconcileAll reconciles every claim, as a resync or a promotion does.
func (w *world) reconcileAll(t *testing.T) {
	t.Helper()
	for _, key := range w.claims.ListKeys() {
		require.NoError(t, w.r.Reconcile(w.ctx, key))
	}
}

// settled waits until the senders are idle: every event handed to them
// was delivered or dropped.
func (w *world) settled(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		l := w.r.Emitter.opts.Ledger
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, el := range l.bySub {
			if el.Value.(*ledgerEntry).inFlight {
				return false
			}
		}
		return len(w.r.Emitter.queue) == 0
	}, 5*time.Second, 5*time.Millisecond)
}

// sentTypes lists "type subject" of what the sink received.
func (w *world) sent() []string {
	w.sink.mu.Lock()
	defer w.sink.mu.Unlock()
	var out []string
	for _, e := range w.sink.sent {
		out = append(out, e.Type()+" "+e.Subject())
	}
	return out
}

func TestReconcileExistingClaims(t *testing.T) {
	sink := &recorder{}
	w := newWorld(t, sink,
		gen.Claim("a", gen.WithEndpoint(imageURL)),
		gen.Claim("b", gen.WithEndpoint(imageURL), gen.WithPhase(annotations.PhasePending)),
		gen.Claim("done", gen.WithEndpoint(imageURL), gen.WithPhase(annotations.PhaseSucceeded)),
		gen.Claim("failed", gen.WithEndpoint(imageURL), gen.WithPhase(annotations.PhaseFailed)),
		gen.Claim("plain"),
		gen.Claim("busy", gen.WithEndpoint(imageURL)),
		gen.DataPod(gen.Claim("busy"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Running())),
	)
	w.reconcileAll(t)
	w.settled(t)
	assert.ElementsMatch(t, []string{
		events.ImportRequested + " default/a",
		events.ImportRequested + " default/b",
		events.DataPodPhase + " default/busy",
	}, w.sent(), "one event per claim that needs one; none for finished claims nor for the claim with a data pod")

	// A resync (or any number of them) within the resend interval sends
	// nothing new.
	w.reconcileAll(t)
	w.reconcileAll(t)
	w.settled(t)
	assert.Len(t, w.sent(), 3)

	// Unfinished claims without a data pod are looked at again later; the
	// others wait for a change.
	assert.Equal(t, map[types.NamespacedName]time.Duration{
		{Namespace: gen.Namespace, Name: "a"}: 30 * time.Second,
		{Namespace: gen.Namespace, Name: "b"}: 30 * time.Second,
	}, w.requeued)
}

func TestReconcileStatusOnlyUpdate(t *testing.T) {
	sink := &recorder{}
	c := gen.Claim("golden", gen.WithEndpoint(imageURL))
	w := newWorld(t, sink, c)
	key := gen.Namespace + "/golden"
	require.NoError(t, w.r.Reconcile(w.ctx, key))
	w.settled(t)
	require.Len(t, w.sent(), 1)

	// The updater writes status annotations, many times.
	for i := range 5 {
		u := c.DeepCopy()
		gen.WithStatus(annotations.Status{Phase: annotations.PhasePending, Progress: fmt.Sprintf("%d.00%%", i), Reason: "Scheduled"})(u)
		u.ResourceVersion = fmt.Sprint(i + 2)
		w.put(t, u)
		require.NoError(t, w.r.Reconcile(w.ctx, key))
	}
	w.settled(t)
	assert.Len(t, w.sent(), 1, "status-only updates send nothing new")

	// Later, with still no data pod, the request is due again (same id).
	w.mu.Lock()
	w.skew = 31 * time.Second
	w.mu.Unlock()
	require.NoError(t, w.r.Reconcile(w.ctx, key))
	w.settled(t)
	require.Len(t, w.sent(), 2)
	assert.Equal(t, sink.ids()[0], sink.ids()[1], "a resend carries the same id")
}

func TestReconcileDataPodLifecycle(t *testing.T) {
	sink := &recorder{}
	c := gen.Claim("golden", gen.WithEndpoint(imageURL))
	w := newWorld(t, sink, c)
	key := gen.Namespace + "/golden"
	require.NoError(t, w.r.Reconcile(w.ctx, key))
	w.settled(t) // two senders: the request is out before the first phase

	// The importer created the data pod: phases, no more import requests.
	steps := []*corev1.Pod{
		gen.DataPod(gen.Claim("golden")),
		gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.Container(gen.Waiting("ContainerCreating", ""))),
		gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Running())),
		gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Running())), // resync
		gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Running(), gen.Restarts(1), gen.LastTerminated(3, "Error", "reset"))),
		gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodSucceeded), gen.Container(gen.Terminated(0, "Completed", ""), gen.Restarts(1))),
	}
	for _, p := range steps {
		w.put(t, p)
		require.NoError(t, w.r.Reconcile(w.ctx, key))
		w.settled(t)
	}
	var phases []string
	for _, e := range sink.sent[1:] {
		var p events.DataPodPhasePayload
		require.NoError(t, events.Decode(e, events.DataPodPhase, &p))
		phases = append(phases, p.Phase+"/"+p.Reason)
	}
	assert.Equal(t, []string{"Pending/", "Scheduled/ContainerCreating", "Running/", "Running/ImportRetrying", "Succeeded/ImportSucceeded"}, phases)
	assert.Equal(t, events.ImportRequested, sink.sent[0].Type())

	// The updater marks the claim finished and deletes the pod: silence.
	gen.WithPhase(annotations.PhaseSucceeded)(c)
	w.put(t, c)
	require.NoError(t, w.pods.Delete(steps[len(steps)-1]))
	require.NoError(t, w.r.Reconcile(w.ctx, key))
	w.settled(t)
	assert.Len(t, sink.sent, 6)
}

func TestReconcileKilledPodRequestsAgain(t *testing.T) {
	sink := &recorder{}
	c := gen.Claim("golden", gen.WithEndpoint(imageURL))
	pod := gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Running()))
	w := newWorld(t, sink, c)
	key := gen.Namespace + "/golden"
	require.NoError(t, w.r.Reconcile(w.ctx, key))
	w.settled(t)
	w.put(t, pod)
	require.NoError(t, w.r.Reconcile(w.ctx, key))
	w.settled(t)
	require.Equal(t, []string{events.ImportRequested + " default/golden", events.DataPodPhase + " default/golden"}, w.sent())

	// The data pod is killed mid-import: the claim asks again at once,
	// not only after the resend interval.
	require.NoError(t, w.pods.Delete(pod))
	require.NoError(t, w.r.Reconcile(w.ctx, key))
	w.settled(t)
	assert.Equal(t, events.ImportRequested+" default/golden", w.sent()[2])
}

func TestReconcileEvictedPod(t *testing.T) {
	sink := &recorder{}
	w := newWorld(t, sink,
		gen.Claim("golden", gen.WithEndpoint(imageURL), gen.WithPhase(annotations.PhaseRunning)),
		gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodFailed("Evicted", "The node was low on resource: ephemeral-storage."),
			gen.Container(gen.Terminated(137, "Error", ""))))
	require.NoError(t, w.r.Reconcile(w.ctx, gen.Namespace+"/golden"))
	w.settled(t)
	assert.ElementsMatch(t, []string{events.ImportRequested + " default/golden", events.DataPodPhase + " default/golden"}, w.sent(),
		"an evicted pod reports Failed/Evicted and the work is requested again")
	for _, e := range sink.sent {
		if e.Type() == events.DataPodPhase {
			var p events.DataPodPhasePayload
			require.NoError(t, events.Decode(e, events.DataPodPhase, &p))
			assert.Equal(t, events.DataPodPhasePayload{Claim: p.Claim, Pod: p.Pod, Phase: events.PodFailed, Reason: "Evicted",
				Message: "The node was low on resource: ephemeral-storage."}, p)
		}
	}
}

func TestReconcileNotLeader(t *testing.T) {
	sink := &recorder{}
	w := newWorld(t, sink, gen.Claim("golden", gen.WithEndpoint(imageURL)))
	w.r.Demote(reconciler.UniversalBucket())
	err := w.r.Reconcile(w.ctx, gen.Namespace+"/golden")
	assert.True(t, controller.IsSkipKey(err), "a follower skips the key, got %v", err)
	w.settled(t)
	assert.Empty(t, w.sent())
}

func TestReconcileGoneOrInvalid(t *testing.T) {
	sink := &recorder{}
	w := newWorld(t, sink)
	assert.NoError(t, w.r.Reconcile(w.ctx, gen.Namespace+"/gone"))
	assert.NoError(t, w.r.Reconcile(w.ctx, "a/b/c"))
	assert.Empty(t, w.sent())
}

// TestReconcileDownSinkDoesNotBlock: with a sink that never answers,
// reconciling many claims returns at once; what cannot be queued is
// dropped and its claim requeued, to be derived again.
func TestReconcileDownSinkDoesNotBlock(t *testing.T) {
	sink := &recorder{gate: make(chan struct{})} // blocks every send
	defer close(sink.gate)
	var objs []any
	for i := range 200 {
		objs = append(objs, gen.Claim(fmt.Sprintf("c%03d", i), gen.WithEndpoint(imageURL)))
	}
	w := newWorld(t, sink, objs...)
	start := time.Now()
	w.reconcileAll(t)
	assert.Less(t, time.Since(start), 2*time.Second, "reconcile must not wait for the sink")
	assert.GreaterOrEqual(t, sink.retried(), 200-16-2, "what does not fit in the queue is handed back for a retry")
}

// TestReconcileCloneAskedAgain: an unfinished clone is looked at again
// when its request is due again, also while its target pod runs (the
// source pod, in another namespace, may be gone); a finished one is not.
func TestReconcileCloneAskedAgain(t *testing.T) {
	sink := &recorder{}
	c := gen.Claim("copy", gen.WithCloneRequest("golden/golden-pvc"), gen.WithPhase(annotations.PhaseRunning))
	pod := gen.DataPod(gen.Claim("copy"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Running()))
	w := newWorld(t, sink, c, pod)
	key := types.NamespacedName{Namespace: gen.Namespace, Name: "copy"}
	require.NoError(t, w.r.Reconcile(w.ctx, key.String()))
	w.settled(t)
	assert.Contains(t, w.sent(), events.CloneRequested+" default/copy")
	w.mu.Lock()
	after, ok := w.requeued[key]
	delete(w.requeued, key)
	w.mu.Unlock()
	require.True(t, ok, "looked at again")
	assert.Equal(t, 30*time.Second, after, "when the request is due again")

	w.put(t, gen.Claim("copy", gen.WithCloneRequest("golden/golden-pvc"), gen.WithPhase(annotations.PhaseSucceeded)))
	require.NoError(t, w.r.Reconcile(w.ctx, key.String()))
	w.mu.Lock()
	_, ok = w.requeued[key]
	w.mu.Unlock()
	assert.False(t, ok, "a finished clone is not looked at again")
}

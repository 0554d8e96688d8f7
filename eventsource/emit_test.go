package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
	logtesting "knative.dev/pkg/logging/testing"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// recorder is a fake sink: it records what it was sent and answers with
// err (or blocks while gate is not closed).
type recorder struct {
	mu      sync.Mutex
	sent    []cloudevents.Event
	err     error
	gate    chan struct{}
	retries []types.NamespacedName
}

func (r *recorder) send(ctx context.Context, e cloudevents.Event) error {
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.sent = append(r.sent, e)
	return nil
}

func (r *recorder) retry(k types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retries = append(r.retries, k)
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.sent {
		out = append(out, e.ID())
	}
	return out
}

func (r *recorder) retried() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.retries)
}

func testIntent(t *testing.T, n int) Intent {
	t.Helper()
	c := events.Claim{Namespace: gen.Namespace, Name: fmt.Sprintf("c%d", n), UID: fmt.Sprintf("uid-%d", n)}
	e, err := events.NewDataPodPhase(events.DataPodPhasePayload{Claim: c, Pod: events.Pod{Name: "p", UID: c.UID}, Phase: events.PodRunning}, time.Now())
	require.NoError(t, err)
	return Intent{Subject: podSubject(c.UID), Event: e}
}

var someClaim = types.NamespacedName{Namespace: gen.Namespace, Name: "golden"}

func startEmitter(t *testing.T, opts EmitterOptions) (*Emitter, context.Context) {
	t.Helper()
	ctx, cancel := context.WithCancel(logtesting.TestContextWithLogger(t))
	if opts.Ledger == nil {
		opts.Ledger = newLedger(100, time.Minute)
	}
	e := NewEmitter(opts)
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e, ctx
}

func TestEmitterNeverBlocks(t *testing.T) {
	sink := &recorder{gate: make(chan struct{})}
	e, ctx := startEmitter(t, EmitterOptions{Send: sink.send, Retry: sink.retry, QueueSize: 2, Senders: 1})

	start := time.Now()
	var queued int
	for i := range 10 {
		if e.Emit(ctx, someClaim, testIntent(t, i)) {
			queued++
		}
	}
	assert.Less(t, time.Since(start), time.Second, "Emit must not wait for a blocked sink")
	// One event is held by the blocked sender, two wait in the queue; the
	// others are dropped and their claims handed back for a retry.
	assert.LessOrEqual(t, queued, 3)
	assert.GreaterOrEqual(t, queued, 2)
	assert.Equal(t, 10-queued, sink.retried())

	close(sink.gate)
	require.Eventually(t, func() bool { return len(sink.ids()) == queued }, 5*time.Second, 10*time.Millisecond)

	// A dropped intent is due again at once; a delivered one is not.
	assert.True(t, e.Emit(ctx, someClaim, testIntent(t, 9)), "dropped, so due again")
	assert.False(t, e.Emit(ctx, someClaim, testIntent(t, 0)), "delivered, not due again")
}

func TestEmitterSendFailure(t *testing.T) {
	sink := &recorder{err: errors.New("connection refused")}
	e, ctx := startEmitter(t, EmitterOptions{Send: sink.send, Retry: sink.retry})
	in := testIntent(t, 1)
	require.True(t, e.Emit(ctx, someClaim, in))
	require.Eventually(t, func() bool { return sink.retried() == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []types.NamespacedName{someClaim}, sink.retries)

	sink.mu.Lock()
	sink.err = nil
	sink.mu.Unlock()
	require.True(t, e.Emit(ctx, someClaim, in), "a failed send is due again")
	require.Eventually(t, func() bool { return len(sink.ids()) == 1 }, 5*time.Second, 10*time.Millisecond)
}

func TestEmitterRejected(t *testing.T) {
	sink := &recorder{err: fmt.Errorf("%w: 400 Bad Request", events.ErrRejected)}
	l := newLedger(100, time.Minute)
	var mu sync.Mutex
	clock := time.Unix(1000, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	e, ctx := startEmitter(t, EmitterOptions{Send: sink.send, Retry: sink.retry, Ledger: l, Now: now})
	in := testIntent(t, 1)
	in.Resend = Backoff{After: time.Second}
	require.True(t, e.Emit(ctx, someClaim, in))
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		el, ok := l.bySub[in.Subject]
		return ok && el.Value.(*ledgerEntry).rejected
	}, 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	clock = clock.Add(time.Hour)
	mu.Unlock()
	assert.False(t, e.Emit(ctx, someClaim, in), "a rejected event is not sent again, even when a resend is due")
	assert.Zero(t, sink.retried(), "nor retried")
}

func TestEmitterNotLeader(t *testing.T) {
	sink := &recorder{}
	e, ctx := startEmitter(t, EmitterOptions{Send: sink.send, Retry: sink.retry,
		IsLeader: func(types.NamespacedName) bool { return false }})
	require.True(t, e.Emit(ctx, someClaim, testIntent(t, 1)))
	require.Eventually(t, func() bool { return e.opts.Ledger.len() == 0 }, 5*time.Second, 10*time.Millisecond)
	assert.Empty(t, sink.ids(), "a replica that lost the lead does not send")
	assert.Zero(t, sink.retried(), "the new leader derives it")
}

func TestEmitterSendTimeout(t *testing.T) {
	sink := &recorder{gate: make(chan struct{})} // never opens
	e, ctx := startEmitter(t, EmitterOptions{Send: sink.send, Retry: sink.retry, SendTimeout: 20 * time.Millisecond})
	require.True(t, e.Emit(ctx, someClaim, testIntent(t, 1)))
	require.Eventually(t, func() bool { return sink.retried() == 1 }, 5*time.Second, 5*time.Millisecond,
		"a hanging sink is given up on after SendTimeout")
}

// readyIntent is the phase of one upload pod, Running, ready or not.
func readyIntent(t *testing.T, ready bool) Intent {
	t.Helper()
	c := events.Claim{Namespace: gen.Namespace, Name: "up", UID: "uid-up"}
	e, err := events.NewDataPodPhase(events.DataPodPhasePayload{Claim: c, Pod: events.Pod{Name: "cdi-upload-up", UID: "pod-up"},
		Phase: events.PodRunning, Ready: &ready}, time.Now())
	require.NoError(t, err)
	return Intent{Subject: podSubject("pod-up"), Event: e}
}

// Two observations of one pod in a row (Running not ready, then ready)
// reach the consumer in that order although several senders run: the
// second waits for the first.
func TestEmitterSendsASubjectInOrder(t *testing.T) {
	sink := &recorder{gate: make(chan struct{})}
	e, ctx := startEmitter(t, EmitterOptions{Send: sink.send, Retry: sink.retry, Senders: 4})
	notReady, ready := readyIntent(t, false), readyIntent(t, true)
	require.True(t, e.Emit(ctx, someClaim, notReady))
	require.True(t, e.Emit(ctx, someClaim, ready))
	close(sink.gate)
	require.Eventually(t, func() bool { return len(sink.ids()) >= 1 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		ids := sink.ids()
		return len(ids) > 0 && ids[len(ids)-1] == ready.Event.ID()
	}, 5*time.Second, 10*time.Millisecond, "the newer observation is the last one delivered")
	for _, id := range sink.ids()[1:] {
		assert.NotEqual(t, notReady.Event.ID(), id, "the older observation never follows the newer")
	}
}

// An observation superseded while it waited in the queue is not sent.
func TestEmitterSkipsSupersededEvents(t *testing.T) {
	sink := &recorder{gate: make(chan struct{})}
	e, ctx := startEmitter(t, EmitterOptions{Send: sink.send, Retry: sink.retry, Senders: 1})
	busy := testIntent(t, 1) // holds the only sender
	notReady, ready := readyIntent(t, false), readyIntent(t, true)
	require.True(t, e.Emit(ctx, someClaim, busy))
	require.True(t, e.Emit(ctx, someClaim, notReady))
	require.True(t, e.Emit(ctx, someClaim, ready))
	close(sink.gate)
	require.Eventually(t, func() bool { return len(sink.ids()) == 2 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{busy.Event.ID(), ready.Event.ID()}, sink.ids())
}

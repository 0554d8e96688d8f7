package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Resend policies of the tests.
var (
	never    = Backoff{}
	every30s = Backoff{After: 30 * time.Second}
)

func TestLedger(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLedger(10, time.Minute)

	assert.True(t, l.reserve("pod/a", "id1", t0, never), "first sight is due")
	assert.False(t, l.reserve("pod/a", "id1", t0.Add(time.Second), never), "in flight")
	l.settle("pod/a", "id1", delivered)
	assert.False(t, l.reserve("pod/a", "id1", t0.Add(time.Hour), never), "delivered, never again")
	assert.True(t, l.reserve("pod/a", "id2", t0.Add(time.Hour), never), "a new observation is due")

	// Resends.
	assert.True(t, l.reserve("import/c", "r1", t0, every30s))
	l.settle("import/c", "r1", delivered)
	assert.False(t, l.reserve("import/c", "r1", t0.Add(29*time.Second), every30s))
	assert.True(t, l.reserve("import/c", "r1", t0.Add(30*time.Second), every30s), "due again after resendAfter")

	// Undelivered: due again at once.
	assert.True(t, l.reserve("pod/b", "x", t0, never))
	l.settle("pod/b", "x", undelivered)
	assert.True(t, l.reserve("pod/b", "x", t0, never))

	// Rejected: never again, even when resends are due; a new id is.
	assert.True(t, l.reserve("import/bad", "r", t0, Backoff{After: time.Second}))
	l.settle("import/bad", "r", rejected)
	assert.False(t, l.reserve("import/bad", "r", t0.Add(time.Hour), Backoff{After: time.Second}))
	assert.True(t, l.reserve("import/bad", "r2", t0.Add(time.Hour), Backoff{After: time.Second}))

	// A settle of a superseded id does nothing.
	assert.True(t, l.reserve("pod/c", "old", t0, never))
	assert.True(t, l.reserve("pod/c", "new", t0, never))
	l.settle("pod/c", "old", undelivered)
	assert.False(t, l.reserve("pod/c", "new", t0, never), "new is still in flight")

	// In flight for too long: presumed lost.
	assert.True(t, l.reserve("pod/d", "y", t0, never))
	assert.False(t, l.reserve("pod/d", "y", t0.Add(59*time.Second), never))
	assert.True(t, l.reserve("pod/d", "y", t0.Add(time.Minute), never))

	// Backoff: each resend of the same id waits twice as long, up to Max.
	b := Backoff{After: 5 * time.Second, Max: 20 * time.Second}
	at := t0
	assert.True(t, l.reserve("import/q", "r", at, b))
	for _, wait := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 20 * time.Second} {
		l.settle("import/q", "r", delivered)
		d, ok := l.dueIn("import/q", at)
		assert.True(t, ok)
		assert.Equal(t, wait, d)
		assert.False(t, l.reserve("import/q", "r", at.Add(wait-time.Millisecond), b))
		at = at.Add(wait)
		assert.True(t, l.reserve("import/q", "r", at, b), "due after %s", wait)
	}
	assert.True(t, l.reserve("import/q", "r-changed", at, b), "a new id starts over")
	l.settle("import/q", "r-changed", delivered)
	d, _ := l.dueIn("import/q", at)
	assert.Equal(t, 5*time.Second, d)
	_, ok := l.dueIn("pod/a", at)
	assert.False(t, ok, "never resent")
	_, ok = l.dueIn("nothing", at)
	assert.False(t, ok)

	l.forget("pod/a")
	assert.True(t, l.reserve("pod/a", "id2", t0, never), "forgotten")
}

func TestLedgerIsBounded(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLedger(3, time.Minute)
	for i := range 5 {
		s := fmt.Sprintf("pod/%d", i)
		assert.True(t, l.reserve(s, "id", t0, never))
		l.settle(s, "id", delivered)
	}
	assert.Equal(t, 3, l.len())
	assert.True(t, l.reserve("pod/0", "id", t0, never), "the oldest was forgotten")
	assert.False(t, l.reserve("pod/4", "id", t0, never), "the newest is remembered")
}

package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLedger(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLedger(10, time.Minute)

	assert.True(t, l.reserve("pod/a", "id1", t0, 0), "first sight is due")
	assert.False(t, l.reserve("pod/a", "id1", t0.Add(time.Second), 0), "in flight")
	l.settle("pod/a", "id1", delivered)
	assert.False(t, l.reserve("pod/a", "id1", t0.Add(time.Hour), 0), "delivered, never again")
	assert.True(t, l.reserve("pod/a", "id2", t0.Add(time.Hour), 0), "a new observation is due")

	// Resends.
	assert.True(t, l.reserve("import/c", "r1", t0, 30*time.Second))
	l.settle("import/c", "r1", delivered)
	assert.False(t, l.reserve("import/c", "r1", t0.Add(29*time.Second), 30*time.Second))
	assert.True(t, l.reserve("import/c", "r1", t0.Add(30*time.Second), 30*time.Second), "due again after resendAfter")

	// Undelivered: due again at once.
	assert.True(t, l.reserve("pod/b", "x", t0, 0))
	l.settle("pod/b", "x", undelivered)
	assert.True(t, l.reserve("pod/b", "x", t0, 0))

	// Rejected: never again, even when resends are due; a new id is.
	assert.True(t, l.reserve("import/bad", "r", t0, time.Second))
	l.settle("import/bad", "r", rejected)
	assert.False(t, l.reserve("import/bad", "r", t0.Add(time.Hour), time.Second))
	assert.True(t, l.reserve("import/bad", "r2", t0.Add(time.Hour), time.Second))

	// A settle of a superseded id does nothing.
	assert.True(t, l.reserve("pod/c", "old", t0, 0))
	assert.True(t, l.reserve("pod/c", "new", t0, 0))
	l.settle("pod/c", "old", undelivered)
	assert.False(t, l.reserve("pod/c", "new", t0, 0), "new is still in flight")

	// In flight for too long: presumed lost.
	assert.True(t, l.reserve("pod/d", "y", t0, 0))
	assert.False(t, l.reserve("pod/d", "y", t0.Add(59*time.Second), 0))
	assert.True(t, l.reserve("pod/d", "y", t0.Add(time.Minute), 0))

	l.forget("pod/a")
	assert.True(t, l.reserve("pod/a", "id2", t0, 0), "forgotten")
}

func TestLedgerIsBounded(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLedger(3, time.Minute)
	for i := range 5 {
		s := fmt.Sprintf("pod/%d", i)
		assert.True(t, l.reserve(s, "id", t0, 0))
		l.settle(s, "id", delivered)
	}
	assert.Equal(t, 3, l.len())
	assert.True(t, l.reserve("pod/0", "id", t0, 0), "the oldest was forgotten")
	assert.False(t, l.reserve("pod/4", "id", t0, 0), "the newest is remembered")
}

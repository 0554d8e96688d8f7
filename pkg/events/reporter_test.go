package events

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/cdi-functions/cdi-functions/pkg/progress"
)

func TestPodReporterThrottlesAndFlushes(t *testing.T) {
	var mu sync.Mutex
	var sent []int64
	send := func(_ context.Context, p DataPodProgressPayload) error {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, p.Done)
		return nil
	}
	r := NewPodReporter(context.Background(), claim, Pod{Name: "p"}, 50*time.Millisecond, send, nil)
	for i := int64(1); i <= 1000; i++ {
		r.Report(progress.Update{Phase: progress.PhaseWriting, Done: i, Total: 1000})
	}
	r.Stop()
	mu.Lock()
	defer mu.Unlock()
	assert.LessOrEqual(t, len(sent), 3, "a burst of updates is merged: %v", sent)
	assert.Equal(t, int64(1000), sent[len(sent)-1], "the last update is always sent")
}

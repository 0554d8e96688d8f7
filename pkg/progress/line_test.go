package progress

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLineThrottles(t *testing.T) {
	var buf bytes.Buffer
	l := NewLine(&buf, time.Second)
	now := time.Unix(0, 0)
	l.now = func() time.Time { return now }

	l.Report(Update{Phase: PhaseWriting, Done: 0, Total: 4 << 20})
	now = now.Add(100 * time.Millisecond)
	l.Report(Update{Phase: PhaseWriting, Done: 1 << 20, Total: 4 << 20}) // throttled
	now = now.Add(time.Second)
	l.Report(Update{Phase: PhaseWriting, Done: 2 << 20, Total: 4 << 20})
	l.Report(Update{Phase: PhaseDone, Done: 4 << 20, Total: 4 << 20}) // phase change always prints

	assert.Equal(t, "Writing: 0.00% (0 B of 4.00 MiB)\n"+
		"Writing: 50.00% (2.00 MiB of 4.00 MiB, 1.82 MiB/s)\n"+
		"Done: 100.00% (4.00 MiB of 4.00 MiB)\n", buf.String())
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.50 KiB", 3 << 30: "3.00 GiB"} {
		assert.Equal(t, want, Bytes(n))
	}
}

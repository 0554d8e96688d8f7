package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Line is a Reporter that prints a human line to a writer (a terminal or
// a pod log), at most once per interval and whenever the phase changes.
type Line struct {
	w        io.Writer
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex
	last   time.Time
	phase  Phase
	start  time.Time
	lastAt int64
}

// NewLine returns a Line reporter writing to w at most once per interval.
func NewLine(w io.Writer, interval time.Duration) *Line {
	return &Line{w: w, interval: interval, now: time.Now}
}

// Report implements Reporter.
func (l *Line) Report(u Update) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.start.IsZero() {
		l.start = now
	}
	if u.Phase == l.phase && now.Sub(l.last) < l.interval && u.Phase != PhaseDone {
		return
	}
	rate := ""
	if dt := now.Sub(l.last).Seconds(); !l.last.IsZero() && u.Phase == l.phase && dt > 0 {
		rate = fmt.Sprintf(", %s/s", Bytes(int64(float64(u.Done-l.lastAt)/dt)))
	}
	l.last, l.phase, l.lastAt = now, u.Phase, u.Done
	if u.Total > 0 {
		fmt.Fprintf(l.w, "%s: %.2f%% (%s of %s%s)\n", u.Phase, Percent(u), Bytes(u.Done), Bytes(u.Total), rate)
		return
	}
	fmt.Fprintf(l.w, "%s: %s%s\n", u.Phase, Bytes(u.Done), rate)
}

// Percent is the share of u done, in percent, or 0 when the total is
// unknown.
func Percent(u Update) float64 {
	if u.Total <= 0 {
		return 0
	}
	return min(100, 100*float64(u.Done)/float64(u.Total))
}

// Bytes formats n with a binary unit ("1.50 GiB").
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.2f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

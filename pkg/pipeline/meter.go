package pipeline

import (
	"io"

	"github.com/cdi-functions/cdi-functions/pkg/progress"
)

// meter counts the bytes read through it and reports them.
type meter struct {
	r      io.Reader
	total  int64
	report progress.Reporter
	phase  progress.Phase
	count  *int64
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if n > 0 {
		*m.count += int64(n)
		m.report.Report(progress.Update{Phase: m.phase, Done: *m.count, Total: m.total})
	}
	return n, err
}

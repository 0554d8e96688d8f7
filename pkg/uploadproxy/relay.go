package uploadproxy

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// relayBody is the client's request body as the request to the upload pod
// reads it. When the pod answers before the body's end (a refusal, a
// conflicting offset), the transport goes on reading the client's body
// after RoundTrip returned; net/http forbids a handler to return while
// that read is pending, and the server cannot even write the answer while
// a read blocks on a stalled client. let go ends that read before the
// proxy answers.
type relayBody struct {
	r io.Reader

	mu     sync.Mutex
	ended  bool // a read returned an error (io.EOF included)
	closed chan struct{}
	once   sync.Once
}

func newRelayBody(r io.Reader) *relayBody {
	return &relayBody{r: r, closed: make(chan struct{})}
}

// Read reads the client's body.
func (b *relayBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil {
		b.mu.Lock()
		b.ended = true
		b.mu.Unlock()
	}
	return n, err
}

// Close records that the transport is done with the body; the client's
// body itself is the server's to close.
func (b *relayBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// letGo returns once the transport no longer reads the client's body, at
// most after wait, and reports whether it let go: a read still pending on
// the client's connection is cut by expiring its read deadline (the
// server resets it before the connection's next request).
func (b *relayBody) letGo(w http.ResponseWriter, wait time.Duration) bool {
	select {
	case <-b.closed:
		return true
	default:
	}
	if !b.hasEnded() {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-b.closed:
		return true
	case <-t.C:
		return false
	}
}

// hasEnded reports whether a read of the client's body returned an error
// (its end included).
func (b *relayBody) hasEnded() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ended
}

// Draining after an early answer: up to drainMax bytes for up to
// drainWait.
const (
	drainMax  = 256 << 20
	drainWait = 15 * time.Second
)

// drain sends the answer already written to w and then reads (and
// discards) what the client still sends of its body, within drainMax and
// drainWait, so that a client still writing a body the pod refused reads
// the answer instead of a reset connection (a server closing with unread
// bytes resets it, and the client's kernel drops the answer it had not
// read yet). Called only once the transport let go of the body.
func drain(w http.ResponseWriter, body io.Reader) {
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	_ = rc.SetReadDeadline(time.Now().Add(drainWait))
	_, _ = io.Copy(io.Discard, io.LimitReader(body, drainMax))
}

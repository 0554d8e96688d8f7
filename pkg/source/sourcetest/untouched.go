package sourcetest

import (
	"errors"
	"net"
	"testing"
	"time"
)

// Untouched is a loopback listener that nothing may connect to: a test
// points a source the egress policy refuses at it, then checks that no
// connection was made. It never accepts, so a connection could only wait
// in the backlog.
type Untouched struct {
	l *net.TCPListener
	// Port is the listener's port on 127.0.0.1.
	Port string
}

// NewUntouched listens on a free loopback port until the test ends.
func NewUntouched(tb testing.TB) *Untouched {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return &Untouched{l: l.(*net.TCPListener), Port: port}
}

// RequireUntouched fails the test if a connection reached the listener. A
// connect completes the handshake into the backlog before the dialer
// returns, so an Accept with an expired deadline finds it.
func (u *Untouched) RequireUntouched(tb testing.TB) {
	tb.Helper()
	if err := u.l.SetDeadline(time.Now()); err != nil {
		tb.Fatalf("set deadline: %v", err)
	}
	c, err := u.l.Accept()
	if err == nil {
		_ = c.Close()
		tb.Fatal("a connection reached the listener the egress policy protects")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		tb.Fatalf("accept: %v", err)
	}
}

package sourcetest

import (
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

// RequireUntouched fails the test if a connection reached the listener.
// A refused dial never connects; any connect completes its handshake into
// the listener's backlog before the dialer returns. So a sentinel
// connection made now must be the first one accepted (the backlog is first
// in, first out): anything accepted before it came from the code under
// test.
func (u *Untouched) RequireUntouched(tb testing.TB) {
	tb.Helper()
	sentinel, err := net.DialTimeout("tcp", u.l.Addr().String(), 5*time.Second)
	if err != nil {
		tb.Fatalf("sentinel connection: %v", err)
	}
	defer sentinel.Close()
	if err := u.l.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		tb.Fatalf("set deadline: %v", err)
	}
	for {
		c, err := u.l.Accept()
		if err != nil {
			tb.Fatalf("accept the sentinel: %v", err)
		}
		from := c.RemoteAddr().String()
		_ = c.Close()
		if from == sentinel.LocalAddr().String() {
			return
		}
		tb.Errorf("a connection from %s reached the listener the egress policy protects", from)
	}
}

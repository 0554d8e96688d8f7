package clonestream

import (
	"net"
	"sync/atomic"
	"time"
)

// Wire is a clone's connection as the data path sees it: it counts the
// bytes that cross it and the time writes wait for the peer (how the
// source tells a slow network from a fast one), and with a stall timeout
// it fails any read or write that makes no progress for that long. Wrap
// the TCP connection with it, under TLS, to count what really travels.
type Wire struct {
	net.Conn
	stall   time.Duration
	written atomic.Int64
	read    atomic.Int64
	blocked atomic.Int64
}

// NewWire wraps c; stall 0 means no stall timeout.
func NewWire(c net.Conn, stall time.Duration) *Wire { return &Wire{Conn: c, stall: stall} }

// Read implements net.Conn.
func (w *Wire) Read(p []byte) (int, error) {
	if w.stall > 0 {
		_ = w.Conn.SetReadDeadline(time.Now().Add(w.stall))
	}
	n, err := w.Conn.Read(p)
	w.read.Add(int64(n))
	return n, err
}

// Write implements net.Conn.
func (w *Wire) Write(p []byte) (int, error) {
	t := time.Now()
	if w.stall > 0 {
		_ = w.Conn.SetWriteDeadline(t.Add(w.stall))
	}
	n, err := w.Conn.Write(p)
	w.blocked.Add(int64(time.Since(t)))
	w.written.Add(int64(n))
	return n, err
}

// Written is the number of bytes written to the connection.
func (w *Wire) Written() int64 { return w.written.Load() }

// BytesRead is the number of bytes read from the connection.
func (w *Wire) BytesRead() int64 { return w.read.Load() }

// Blocked is the time spent in writes so far.
func (w *Wire) Blocked() time.Duration { return time.Duration(w.blocked.Load()) }

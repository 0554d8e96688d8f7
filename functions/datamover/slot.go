package main

import (
	"context"
	"sync"
)

// slot is the receiver's one upload at a time. A holder that only
// receives resumable bytes can be interrupted: a client that lost its
// connection comes back (HEAD, PATCH) before the server noticed, and must
// not wait for a dead connection to time out.
type slot struct {
	mu     sync.Mutex
	holder *holder
}

// holder is who holds the slot.
type holder struct {
	// interrupt stops the holder's transfer; nil: not interruptible.
	interrupt func()
	released  chan struct{}
}

// tryAcquire takes the slot if it is free.
func (s *slot) tryAcquire(interrupt func()) (*holder, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holder != nil {
		return nil, false
	}
	s.holder = &holder{interrupt: interrupt, released: make(chan struct{})}
	return s.holder, true
}

// acquire takes the slot, interrupting an interruptible holder and
// waiting for it to let go, until ctx ends. ok is false when the holder
// cannot be interrupted (a plain upload, or processing).
func (s *slot) acquire(ctx context.Context, interrupt func()) (*holder, bool) {
	for {
		h, ok := s.tryAcquire(interrupt)
		if ok {
			return h, true
		}
		s.mu.Lock()
		cur := s.holder
		var stop func()
		if cur != nil {
			stop = cur.interrupt
		}
		s.mu.Unlock()
		if cur == nil {
			continue
		}
		if stop == nil {
			return nil, false
		}
		stop()
		select {
		case <-cur.released:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// wait returns once an interruptible holder let go (interrupting it), or
// at once when the slot is free or its holder cannot be interrupted.
func (s *slot) wait(ctx context.Context) {
	s.mu.Lock()
	cur := s.holder
	var stop func()
	if cur != nil {
		stop = cur.interrupt
	}
	s.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	select {
	case <-cur.released:
	case <-ctx.Done():
	}
}

// release gives the slot back.
func (s *slot) release(h *holder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holder == h {
		s.holder = nil
		close(h.released)
	}
}

// pin makes h uninterruptible: it now imports, which must not be cut.
func (s *slot) pin(h *holder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h.interrupt = nil
}

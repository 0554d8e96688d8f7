package main

import (
	"container/list"
	"sync"
	"time"
)

// ledger remembers, per subject, the last event handed to the sender and
// whether it was delivered, so that a repeated observation of the same
// state is not sent again. It is bounded: past limit subjects the least
// recently used is forgotten (which costs at most one repeated event).
// Safe for concurrent use.
type ledger struct {
	limit int
	// stale is how long an event may stay in flight before it is presumed
	// lost and may be handed out again.
	stale time.Duration

	mu    sync.Mutex
	order *list.List // of *ledgerEntry, most recently used first
	bySub map[string]*list.Element
}

type ledgerEntry struct {
	subject, id string
	inFlight    bool
	// sends counts the sends of this id (for the backoff of resends).
	sends int
	// resend is the backoff of this id's resends.
	resend Backoff
	// rejected: the consumer refused the event for good; it is not sent
	// again (a new id, i.e. a changed request, is).
	rejected bool
	// at is when the event was handed to the sender.
	at time.Time
}

// newLedger returns a ledger of at most limit subjects.
func newLedger(limit int, stale time.Duration) *ledger {
	return &ledger{limit: limit, stale: stale, order: list.New(), bySub: map[string]*list.Element{}}
}

// reserve reports whether the event id for subject is due now, and if so
// records it as in flight. It is not due when the same event is in
// flight, was rejected, or was delivered less than its resend delay ago
// (resend.delay of the sends so far; never again when resend is zero).
// Another id for the subject is always due.
func (l *ledger) reserve(subject, id string, now time.Time, resend Backoff) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.bySub[subject]; ok {
		e := el.Value.(*ledgerEntry)
		sends := 1
		if e.id == id {
			age := now.Sub(e.at)
			switch {
			case e.inFlight && age < l.stale:
				return false
			case e.rejected:
				return false
			case !e.inFlight && (resend.After == 0 || age < resend.delay(e.sends)):
				return false
			}
			sends = e.sends + 1
		}
		e.id, e.inFlight, e.rejected, e.at, e.sends, e.resend = id, true, false, now, sends, resend
		l.order.MoveToFront(el)
		return true
	}
	l.bySub[subject] = l.order.PushFront(&ledgerEntry{subject: subject, id: id, inFlight: true, at: now, sends: 1, resend: resend})
	for l.order.Len() > l.limit {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.bySub, oldest.Value.(*ledgerEntry).subject)
	}
	return true
}

// current reports whether id is the last event handed out for subject:
// false once a newer one was reserved. A subject the ledger forgot (or
// never saw) is current.
func (l *ledger) current(subject, id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.bySub[subject]
	return !ok || el.Value.(*ledgerEntry).id == id
}

// outcome is how a send ended.
type outcome int

const (
	// delivered: the consumer accepted the event.
	delivered outcome = iota
	// rejected: the consumer refused it for good (events.ErrRejected).
	rejected
	// undelivered: it was dropped or could not be sent.
	undelivered
)

// settle records how the send of event id for subject ended: delivered or
// rejected, it is remembered; undelivered, it is forgotten so the next
// derivation of the same state sends it again. A settle for an id that is
// no longer the subject's latest does nothing.
func (l *ledger) settle(subject, id string, o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.bySub[subject]
	if !ok || el.Value.(*ledgerEntry).id != id {
		return
	}
	e := el.Value.(*ledgerEntry)
	switch o {
	case delivered:
		e.inFlight = false
	case rejected:
		e.inFlight, e.rejected = false, true
	default:
		l.order.Remove(el)
		delete(l.bySub, subject)
	}
}

// dueIn returns how long until subject's last event is due again; ok is
// false when the ledger does not know the subject or will never resend it.
func (l *ledger) dueIn(subject string, now time.Time) (d time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, found := l.bySub[subject]
	if !found {
		return 0, false
	}
	e := el.Value.(*ledgerEntry)
	if e.rejected || e.resend.After == 0 {
		return 0, false
	}
	return max(e.at.Add(e.resend.delay(e.sends)).Sub(now), 0), true
}

// forget drops what the ledger knows about subject.
func (l *ledger) forget(subject string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.bySub[subject]; ok {
		l.order.Remove(el)
		delete(l.bySub, subject)
	}
}

// len returns the number of subjects remembered.
func (l *ledger) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}

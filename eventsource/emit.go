package main

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// SendFunc delivers one event (events.Sender.Send in production).
type SendFunc func(context.Context, cloudevents.Event) error

// EmitterOptions tune an Emitter.
type EmitterOptions struct {
	// Send delivers an event, with its own retries.
	Send SendFunc
	// QueueSize bounds the events waiting for a sender; when it is full
	// new events are dropped. Default 1024.
	QueueSize int
	// Senders is the number of goroutines sending. Default 16: a send
	// waits for the function's answer (a pod created, a status written),
	// so with 4 a burst of 200 claims queued for seconds.
	Senders int
	// SendTimeout bounds one Send, retries included. Default 30s.
	SendTimeout time.Duration
	// Retry is told the claim of an event that was dropped, so that its
	// state is derived again later (the controller re-enqueues it with a
	// delay).
	Retry func(claim types.NamespacedName)
	// IsLeader reports whether this replica still leads the claim's
	// bucket; an event whose claim it no longer leads is not sent.
	IsLeader func(claim types.NamespacedName) bool
	// Ledger remembers what was sent.
	Ledger *ledger
	// Metrics counts what was sent and dropped; nil counts nothing.
	Metrics *metrics
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Emitter takes intents from reconcilers and sends them from goroutines
// of its own through a bounded queue, so reconciling never waits for the
// network: Emit never blocks. An intent that is already in flight, or was
// delivered (or rejected for good) and is not due again, is skipped; one
// that cannot be queued or sent is dropped and its claim handed to Retry,
// to be derived again from state. Nothing is lost that the state still
// calls for.
type Emitter struct {
	opts  EmitterOptions
	queue chan outgoing
	// subjects serialises the sending of events of one subject (striped
	// by a hash of the subject): with several senders, an older
	// observation of a pod (Running, not ready) could otherwise reach the
	// consumer after a newer one (ready) and undo it.
	subjects [subjectStripes]sync.Mutex
}

// subjectStripes is the number of locks the subjects share.
const subjectStripes = 256

// outgoing is a queued intent and the claim it is about.
type outgoing struct {
	claim  types.NamespacedName
	intent Intent
}

// NewEmitter returns an Emitter; Run starts its senders.
func NewEmitter(opts EmitterOptions) *Emitter {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Senders <= 0 {
		opts.Senders = 16
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retry == nil {
		opts.Retry = func(types.NamespacedName) {}
	}
	if opts.IsLeader == nil {
		opts.IsLeader = func(types.NamespacedName) bool { return true }
	}
	return &Emitter{opts: opts, queue: make(chan outgoing, opts.QueueSize)}
}

// Emit hands in to the senders unless it is not due (see ledger.reserve).
// It never blocks; it reports whether in was queued.
func (e *Emitter) Emit(ctx context.Context, claim types.NamespacedName, in Intent) bool {
	id := in.Event.ID()
	if !e.opts.Ledger.reserve(in.Subject, id, e.opts.Now(), in.Resend) {
		return false
	}
	select {
	case e.queue <- outgoing{claim: claim, intent: in}:
		return true
	default:
		e.drop(ctx, claim, in, dropQueueFull)
		logging.FromContext(ctx).Warnw("Event queue full, dropping event (it is derived again later)",
			zap.String("type", in.Event.Type()), zap.String("id", id), zap.Stringer("claim", claim))
		return false
	}
}

// Forget drops what was sent for subject, so its next intent is due at
// once.
func (e *Emitter) Forget(subject string) {
	e.opts.Ledger.forget(subject)
}

// DueIn returns how long until the last event of subject is due again;
// ok is false when none is known or it is never sent again.
func (e *Emitter) DueIn(subject string) (time.Duration, bool) {
	return e.opts.Ledger.dueIn(subject, e.opts.Now())
}

// Run sends queued events from Senders goroutines until ctx is done.
func (e *Emitter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range e.opts.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case o := <-e.queue:
					e.send(ctx, o)
				}
			}
		}()
	}
	wg.Wait()
}

// subjectLock is the lock of subject's stripe.
func (e *Emitter) subjectLock(subject string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(subject))
	return &e.subjects[h.Sum32()%subjectStripes]
}

// send delivers one queued event and settles it in the ledger. Events of
// one subject are sent one at a time, and one that a newer event of its
// subject superseded while it waited is not sent at all, so a consumer
// sees a subject's observations in the order they were made.
func (e *Emitter) send(ctx context.Context, o outgoing) {
	in := o.intent
	mu := e.subjectLock(in.Subject)
	mu.Lock()
	defer mu.Unlock()
	if !e.opts.Ledger.current(in.Subject, in.Event.ID()) {
		e.count(ctx, in, dropSuperseded)
		logging.FromContext(ctx).Debugw("Not sending an event a newer one of its subject superseded",
			zap.String("type", in.Event.Type()), zap.String("id", in.Event.ID()), zap.Stringer("claim", o.claim))
		return
	}
	if !e.opts.IsLeader(o.claim) {
		// Demoted while it waited: the new leader derives it again.
		e.opts.Ledger.settle(in.Subject, in.Event.ID(), undelivered)
		e.count(ctx, in, dropNotLeader)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, e.opts.SendTimeout)
	err := e.opts.Send(sctx, in.Event)
	cancel()
	if errors.Is(err, events.ErrRejected) {
		// The consumer refused it for good: sending the same event again
		// cannot help, a changed request (a new id) will be sent.
		logging.FromContext(ctx).Errorw("Event rejected by its consumer; not sending it again",
			zap.String("type", in.Event.Type()), zap.String("id", in.Event.ID()), zap.Stringer("claim", o.claim), zap.Error(err))
		e.opts.Ledger.settle(in.Subject, in.Event.ID(), rejected)
		e.count(ctx, in, dropRejected)
		return
	}
	if err != nil {
		logging.FromContext(ctx).Warnw("Dropping event that could not be sent (it is derived again later)",
			zap.String("type", in.Event.Type()), zap.String("id", in.Event.ID()), zap.Stringer("claim", o.claim), zap.Error(err))
		e.drop(ctx, o.claim, in, dropSendFailed)
		return
	}
	e.opts.Ledger.settle(in.Subject, in.Event.ID(), delivered)
	if e.opts.Metrics != nil {
		e.opts.Metrics.recordSent(ctx, in.Event.Type())
	}
	logging.FromContext(ctx).Debugw("Sent event",
		zap.String("type", in.Event.Type()), zap.String("id", in.Event.ID()), zap.Stringer("claim", o.claim))
}

// drop forgets an event that was not delivered and asks for its claim to
// be derived again.
func (e *Emitter) drop(ctx context.Context, claim types.NamespacedName, in Intent, reason string) {
	e.opts.Ledger.settle(in.Subject, in.Event.ID(), undelivered)
	e.count(ctx, in, reason)
	e.opts.Retry(claim)
}

func (e *Emitter) count(ctx context.Context, in Intent, reason string) {
	if e.opts.Metrics != nil {
		e.opts.Metrics.recordDropped(ctx, in.Event.Type(), reason)
	}
}

package events

import (
	"context"
	"sync"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/progress"
)

// PodReporter is a progress.Reporter for data pods: it sends the latest
// progress as a DataPodProgress event at most once per interval, from a
// goroutine of its own, so the data path never waits for the network.
// Updates that arrive while a send is in flight are merged into the next.
type PodReporter struct {
	send     func(context.Context, DataPodProgressPayload) error
	claim    Claim
	pod      Pod
	interval time.Duration

	mu      sync.Mutex
	latest  progress.Update
	pending bool
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	errs    func(error)
}

// NewPodReporter starts a reporter for the data pod pod working on claim.
// send delivers one payload; errs is told about failed sends (progress is
// best effort: the final phase event is what counts). Stop ends it.
func NewPodReporter(ctx context.Context, claim Claim, pod Pod, interval time.Duration,
	send func(context.Context, DataPodProgressPayload) error, errs func(error)) *PodReporter {
	r := &PodReporter{
		send: send, claim: claim, pod: pod, interval: interval, errs: errs,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go r.loop(ctx)
	return r
}

// Report implements progress.Reporter.
func (r *PodReporter) Report(u progress.Update) {
	r.mu.Lock()
	r.latest, r.pending = u, true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *PodReporter) loop(ctx context.Context) {
	defer close(r.done)
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			r.flush(context.WithoutCancel(ctx))
			return
		case <-r.stop:
			r.flush(context.WithoutCancel(ctx))
			return
		case <-r.wake:
		}
		if wait := r.interval - time.Since(last); wait > 0 {
			select {
			case <-time.After(wait):
			case <-r.stop:
				r.flush(context.WithoutCancel(ctx))
				return
			case <-ctx.Done():
				r.flush(context.WithoutCancel(ctx))
				return
			}
		}
		last = time.Now()
		r.flush(ctx)
	}
}

// flush sends the pending update, if any.
func (r *PodReporter) flush(ctx context.Context) {
	r.mu.Lock()
	u, pending := r.latest, r.pending
	r.pending = false
	r.mu.Unlock()
	if !pending {
		return
	}
	p := DataPodProgressPayload{Claim: r.claim, Pod: r.pod, Stage: string(u.Phase), Done: u.Done, Total: u.Total}
	if err := r.send(ctx, p); err != nil && r.errs != nil {
		r.errs(err)
	}
}

// Stop sends the last pending update and ends the reporter.
func (r *PodReporter) Stop() {
	close(r.stop)
	<-r.done
}

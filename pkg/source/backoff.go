package source

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"
)

// delay is the wait before retry number n (1-based): base·2^(n-1) capped at
// max, with jitter drawn from its upper half so that parallel readers do
// not retry in lock step. A server's Retry-After wins when longer, capped
// at max as well.
func (p *retryPolicy) delay(n int, serverAfter time.Duration) time.Duration {
	d := p.base
	for i := 1; i < n && d < p.max; i++ {
		d *= 2
	}
	d = min(d, p.max)
	d = d/2 + rand.N(d/2+1)
	if serverAfter > d {
		d = min(serverAfter, p.max)
	}
	return d
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// retry runs one request-shaped attempt until it succeeds, fails for good
// or the retries run out. Each attempt gets the stall timeout as deadline.
func (p *retryPolicy) retry(ctx context.Context, name string, attempt func(context.Context) error) error {
	for failures := 1; ; failures++ {
		actx, cancel := context.WithTimeoutCause(ctx, p.stall, ErrStalled)
		err := attempt(actx)
		stalled := errors.Is(context.Cause(actx), ErrStalled)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", name, context.Cause(ctx))
		}
		if stalled {
			err = transient(fmt.Errorf("%s: no answer within %s: %w", name, p.stall, ErrStalled), 0)
		}
		ok, after := isTransient(err)
		if !ok {
			return err
		}
		if failures > p.maxRetries {
			return fmt.Errorf("giving up after %d failed attempts: %w", failures, err)
		}
		d := p.delay(failures, after)
		p.log.Warn("source request failed; retrying",
			zap.String("source", name), zap.Int("attempt", failures), zap.Duration("delay", d), zap.Error(err))
		if err := sleep(ctx, d); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}

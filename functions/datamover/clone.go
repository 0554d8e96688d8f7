package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/clonestream"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

// The clone commands (issue 9): clone-target listens in the target
// claim's data pod, clone-source dials it from the source claim's and
// sends the claim (pkg/clonestream). They authenticate each other with
// the clone's credential: the source presents the bearer credential, the
// target a certificate for the clone's server name.

// minCredential is the shortest clone credential accepted.
const minCredential = 16

// readCredential reads a bearer credential file (trimmed).
func readCredential(path, flagName string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("--%s is required (or %s): the clone must be authenticated", flagName, envName(flagName))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the credential: %w", err)
	}
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) < minCredential || len(b) > clonestream.MaxCredential {
		return nil, fmt.Errorf("the credential in %s is %d bytes: want %d to %d", path, len(b), minCredential, clonestream.MaxCredential)
	}
	return b, nil
}

// cloneExit is the exit code of a clone command's error.
func cloneExit(err error) int {
	switch {
	case err == nil:
		return datapod.ExitOK
	case cloneRetryable(err):
		return datapod.ExitRetryable
	default:
		return datapod.ExitPermanent
	}
}

// cloneRetryable reports whether a clone's failure may pass when the pod
// runs again.
func cloneRetryable(err error) bool {
	return clonestream.Retryable(err) || errors.Is(err, context.Canceled) || errors.Is(err, errRetriesExhausted) ||
		errors.Is(err, errIdle)
}

// errRetriesExhausted ends a source that could not get through.
var errRetriesExhausted = errors.New("no progress after the retries")

// errIdle ends a target that no source reached.
var errIdle = errors.New("no clone source connected")

// cloneProgress is the reporter of a clone command: events with a sink,
// else a line on stderr; and its stop.
func cloneProgress(ctx context.Context, rep *reporter, stderr io.Writer) (progress.Reporter, func()) {
	if rep != nil {
		return rep.progress(ctx)
	}
	return progress.NewLine(stderr, 2*time.Second), func() {}
}

// cloneResult sends a clone's final phase (reason.CloneOutcomes); its
// permanence is the clone's, not a download's.
func (r *reporter) cloneResult(ctx context.Context, err error) {
	p := events.DataPodPhasePayload{Claim: r.claim, Pod: r.pod, Phase: events.PodSucceeded, Reason: reason.CloneOutcomes.Succeeded,
		Message: reason.CloneOutcomes.Done}
	if err != nil {
		p.Phase, p.Reason, p.Message = events.PodFailed, reason.CloneOutcomes.Failed, oneLine(err)
		p.Permanent = !cloneRetryable(err)
	}
	e, berr := events.NewDataPodPhase(p, time.Now())
	if berr == nil {
		berr = r.send(context.WithoutCancel(ctx), e)
	}
	if berr != nil {
		fmt.Fprintf(r.stderr, "warning: result event: %v\n", berr)
	}
}

// finishClone reports a clone command's end and returns its exit code.
func finishClone(ctx context.Context, rep *reporter, rf reportFlags, err error, stderr io.Writer, done string) int {
	if rep != nil {
		rep.cloneResult(ctx, err)
	}
	if err != nil {
		writeTerminationLog(rf.terminationLog, err)
		fmt.Fprintf(stderr, "error: %s\n", oneLine(err))
		return cloneExit(err)
	}
	fmt.Fprintln(stderr, done)
	return exitOK
}

package main

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/record"
)

// change is one DataPodPhase or DataPodProgress event, reduced to what
// decide needs.
type change struct {
	// phase is the data pod's phase (events.PodPending … events.PodFailed);
	// empty for a progress event.
	phase string
	// reason and message explain a phase (empty for progress).
	reason, message string
	// restarts counts restarts of the data pod's container.
	restarts int32
	// permanent marks a failure that retrying cannot fix.
	permanent bool
	// done and total are the bytes of a progress event; total <= 0 means
	// the size is unknown.
	done, total int64
	// ready, for an upload pod's phase, tells whether it listens.
	ready *bool
}

// final reports whether the change ends the work: a success, or a failure
// retrying cannot fix.
func (c change) final() bool {
	return c.phase == events.PodSucceeded || (c.phase == events.PodFailed && c.permanent)
}

// maxMessage bounds the message annotation (bytes): a data mover error is
// one line, but a status annotation must never grow without bound.
const maxMessage = record.MaxMessage

// decide applies one event to a claim's status. It is pure: the same
// status and change always give the same answer, and applying a change
// twice changes nothing the second time (events arrive at least once).
//
// The status only moves forward, so old, duplicated and out-of-order
// events are harmless:
//
//   - Succeeded and Failed are final: nothing changes a final status.
//
//   - The phase moves Pending → Running → final, never back. It describes
//     the claim's work, not the current pod: when a data pod is re-created
//     mid-import the claim stays Running. A failure that retrying may fix
//     (the pod restarts) keeps the claim Running with the error as reason
//     and message; a progress event implies Running.
//
//   - The progress is the highest share reported for the work: it never
//     decreases, also when a restarted data pod starts again from 0 (its
//     reports stay below the mark until they pass it). Progress events do
//     not say which container run they come from, so "highest" is the
//     only order-independent choice; the restarts annotation tells a
//     retry. A size-less progress event leaves it; Succeeded sets 100.00%.
//
//   - Restarts is the highest count reported.
//
//   - Reason and message: a phase change takes the event's (or the new
//     phase's default reason and no message); an event of the current phase
//     replaces them only when it carries a reason of its own, so a plain
//     "Running" after a restart keeps the last error visible.
//
//   - Ready (upload targets) is the latest readiness the event source saw;
//     an end of the work sets it "false" (nothing listens any more).
//
// kubeEvents are the Kubernetes Events the change calls for; they are only
// returned with the transition that causes them, never for a duplicate.
// out names the reasons of the claim's kind of work (import or upload).
func decide(cur annotations.Status, c change, out reason.Outcomes) (next annotations.Status, changed bool, kubeEvents []record.Event) {
	if annotations.Final(cur.Phase) {
		return cur, false, nil
	}
	next = cur
	if c.restarts > next.Restarts {
		next.Restarts = c.restarts
	}

	if c.ready != nil {
		next.Ready = strconv.FormatBool(*c.ready)
	}

	target, why := targetOf(c, out)
	message := record.Truncate(c.message, maxMessage)
	switch r, have := rank(target), rank(cur.Phase); {
	case r > have:
		next.Phase = target
		if why == "" {
			why = target
		}
		next.Reason, next.Message = why, message
	case r == have && why != "":
		next.Reason, next.Message = why, message
	}

	if c.phase == "" {
		if p := progressOf(c.done, c.total); p > parseProgress(next.Progress) {
			next.Progress = formatProgress(p)
		}
	}
	if next.Phase == annotations.PhaseSucceeded {
		next.Progress = formatProgress(fullProgress)
	}
	if annotations.Final(next.Phase) && next.Ready != "" {
		next.Ready = "false"
	}

	switch {
	case next.Phase == annotations.PhaseSucceeded:
		kubeEvents = []record.Event{{Type: corev1.EventTypeNormal, Reason: out.Succeeded,
			Message: orDefault(next.Message, out.Done)}}
	case next.Phase == annotations.PhaseFailed:
		kubeEvents = []record.Event{{Type: corev1.EventTypeWarning, Reason: out.Failed,
			Message: failureMessage(next.Reason, next.Message, out)}}
	case c.phase == events.PodFailed && (next.Reason != cur.Reason || next.Message != cur.Message):
		kubeEvents = []record.Event{{Type: corev1.EventTypeWarning, Reason: out.Retrying,
			Message: failureMessage(next.Reason, next.Message, out)}}
	}
	return next, next != cur, kubeEvents
}

// targetOf maps an event to the claim phase it calls for and its reason
// (empty: none of its own).
func targetOf(c change, out reason.Outcomes) (phase, why string) {
	switch c.phase {
	case "": // progress: the pod is moving bytes
		return annotations.PhaseRunning, ""
	case events.PodPending:
		return annotations.PhasePending, c.reason
	case events.PodScheduled:
		// Being scheduled is news in itself (it ends an Unschedulable).
		return annotations.PhasePending, orDefault(c.reason, reason.PodScheduled)
	case events.PodRunning:
		return annotations.PhaseRunning, c.reason
	case events.PodSucceeded:
		return annotations.PhaseSucceeded, orDefault(c.reason, out.Succeeded)
	case events.PodFailed:
		if c.permanent {
			return annotations.PhaseFailed, orDefault(c.reason, out.Failed)
		}
		// The pod restarts: the work goes on, the error shows.
		return annotations.PhaseRunning, orDefault(c.reason, out.Failed)
	}
	return "", "" // unknown phases are refused before decide
}

// rank orders claim phases: the phase only ever moves to a higher rank.
func rank(phase string) int {
	switch phase {
	case annotations.PhasePending:
		return 1
	case annotations.PhaseRunning:
		return 2
	case annotations.PhaseSucceeded, annotations.PhaseFailed:
		return 3
	}
	return 0
}

// fullProgress is 100.00% in hundredths of a percent.
const fullProgress = 10000

// progressOf is done/total in hundredths of a percent, rounded down (so
// 100.00% means every byte), or -1 when the total is unknown.
func progressOf(done, total int64) int64 {
	switch {
	case total <= 0:
		return -1
	case done <= 0:
		return 0
	case done >= total:
		return fullProgress
	}
	p := int64(float64(done) * fullProgress / float64(total))
	return min(p, fullProgress-1) // float rounding never reports an unfinished transfer as 100%
}

// parseProgress reads a progress annotation ("45.20%") in hundredths of a
// percent; -1 when absent or unreadable, so any report replaces it.
func parseProgress(s string) int64 {
	whole, frac, ok := strings.Cut(strings.TrimSuffix(s, "%"), ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 {
		return -1
	}
	var f int64
	if ok {
		if len(frac) > 2 {
			frac = frac[:2]
		}
		for len(frac) < 2 {
			frac += "0"
		}
		if f, err = strconv.ParseInt(frac, 10, 64); err != nil || f < 0 {
			return -1
		}
	}
	return w*100 + f
}

// formatProgress writes hundredths of a percent as the annotation value,
// two decimals: 4520 → "45.20%".
func formatProgress(p int64) string {
	b := make([]byte, 0, 8)
	b = strconv.AppendInt(b, p/100, 10)
	return string(append(b, '.', byte('0'+p%100/10), byte('0'+p%10), '%'))
}

// failureMessage is the Event message of a failure: the error, prefixed
// with a reason that says more than "the import failed" (OOMKilled,
// Evicted…).
func failureMessage(why, message string, out reason.Outcomes) string {
	if message == "" {
		return orDefault(why, "failed")
	}
	if why == "" || why == out.Failed {
		return message
	}
	return why + ": " + message
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

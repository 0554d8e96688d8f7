package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/record"
)

// Statuses and changes for the tables.
func st(phase, progress string, restarts int32, why, message string) annotations.Status {
	return annotations.Status{Phase: phase, Progress: progress, Restarts: restarts, Reason: why, Message: message}
}

func phaseChange(phase, why, message string, restarts int32, permanent bool) change {
	return change{phase: phase, reason: why, message: message, restarts: restarts, permanent: permanent}
}

func progressChange(done, total int64) change { return change{done: done, total: total} }

const (
	pending   = annotations.PhasePending
	running   = annotations.PhaseRunning
	succeeded = annotations.PhaseSucceeded
	failed    = annotations.PhaseFailed
)

var (
	normalSucceeded = record.Event{Type: corev1.EventTypeNormal, Reason: reason.ImportSucceeded, Message: "Import Complete"}
	warnFailed404   = record.Event{Type: corev1.EventTypeWarning, Reason: reason.ImportFailed, Message: "GET http://s/x.img: 404 Not Found"}
	warnRetrying    = record.Event{Type: corev1.EventTypeWarning, Reason: reason.ImportRetrying, Message: "connection refused"}
)

func TestDecide(t *testing.T) {
	none := annotations.Status{}
	tests := []struct {
		name   string
		cur    annotations.Status
		c      change
		want   annotations.Status
		events []record.Event
	}{
		// Phase mapping from a fresh claim.
		{"pending", none, phaseChange(events.PodPending, "", "", 0, false),
			st(pending, "", 0, pending, ""), nil},
		{"pending unschedulable", none, phaseChange(events.PodPending, "Unschedulable", "0/1 nodes are available", 0, false),
			st(pending, "", 0, "Unschedulable", "0/1 nodes are available"), nil},
		{"scheduled is pending", none, phaseChange(events.PodScheduled, "", "", 0, false),
			st(pending, "", 0, "Scheduled", ""), nil},
		{"running", none, phaseChange(events.PodRunning, "", "", 0, false),
			st(running, "", 0, running, ""), nil},
		{"progress implies running", none, progressChange(452, 1000),
			st(running, "45.20%", 0, running, ""), nil},
		{"succeeded", none, phaseChange(events.PodSucceeded, "ImportSucceeded", "Import Complete", 0, false),
			st(succeeded, "100.00%", 0, "ImportSucceeded", "Import Complete"), []record.Event{normalSucceeded}},
		{"succeeded without reason or message", st(running, "10.00%", 0, running, ""), phaseChange(events.PodSucceeded, "", "", 0, false),
			st(succeeded, "100.00%", 0, reason.ImportSucceeded, ""), []record.Event{normalSucceeded}},
		{"permanent failure", st(running, "12.00%", 0, running, ""), phaseChange(events.PodFailed, "ErrImportFailed", "GET http://s/x.img: 404 Not Found", 0, true),
			st(failed, "12.00%", 0, "ErrImportFailed", "GET http://s/x.img: 404 Not Found"), []record.Event{warnFailed404}},
		{"permanent failure with a reason of its own", st(running, "", 1, running, ""), phaseChange(events.PodFailed, "OOMKilled", "container used 512Mi", 1, true),
			st(failed, "", 1, "OOMKilled", "container used 512Mi"),
			[]record.Event{{Type: corev1.EventTypeWarning, Reason: reason.ImportFailed, Message: "OOMKilled: container used 512Mi"}}},
		{"retryable failure keeps running, shows the error", st(running, "30.00%", 0, running, ""), phaseChange(events.PodFailed, "", "connection refused", 0, false),
			st(running, "30.00%", 0, reason.ImportFailed, "connection refused"), []record.Event{warnRetrying}},
		{"retryable failure while pending moves to running", st(pending, "", 0, pending, ""), phaseChange(events.PodFailed, "ErrImportFailed", "connection refused", 0, false),
			st(running, "", 0, reason.ImportFailed, "connection refused"), []record.Event{warnRetrying}},

		// Progress.
		{"progress two decimals rounded down", st(running, "", 0, running, ""), progressChange(2, 3),
			st(running, "66.66%", 0, running, ""), nil},
		{"progress grows", st(running, "45.20%", 0, running, ""), progressChange(5, 10),
			st(running, "50.00%", 0, running, ""), nil},
		{"progress never decreases (restarted pod starts from 0)", st(running, "45.20%", 1, running, ""), progressChange(1, 10),
			st(running, "45.20%", 1, running, ""), nil},
		{"equal progress is no change", st(running, "45.20%", 0, running, ""), progressChange(452, 1000),
			st(running, "45.20%", 0, running, ""), nil},
		{"unknown total leaves progress", st(running, "45.20%", 0, running, ""), progressChange(999, -1),
			st(running, "45.20%", 0, running, ""), nil},
		{"unknown total on a fresh claim", none, progressChange(999, -1),
			st(running, "", 0, running, ""), nil},
		{"done beyond total is 100%", st(running, "", 0, running, ""), progressChange(11, 10),
			st(running, "100.00%", 0, running, ""), nil},
		{"almost done is not 100%", st(running, "", 0, running, ""), progressChange(1<<40-1, 1<<40),
			st(running, "99.99%", 0, running, ""), nil},
		{"unreadable progress annotation is replaced", st(running, "lots", 0, running, ""), progressChange(0, 10),
			st(running, "0.00%", 0, running, ""), nil},
		{"progress keeps the last error", st(running, "10.00%", 1, reason.ImportFailed, "connection refused"), progressChange(2, 10),
			st(running, "20.00%", 1, reason.ImportFailed, "connection refused"), nil},
		{"progress ends an unschedulable pending", st(pending, "", 0, "Unschedulable", "0/1 nodes"), progressChange(1, 10),
			st(running, "10.00%", 0, running, ""), nil},

		// Restarts, reasons, messages.
		{"restarts grow", st(running, "", 0, running, ""), phaseChange(events.PodRunning, "", "", 2, false),
			st(running, "", 2, running, ""), nil},
		{"restarts never decrease", st(running, "", 3, running, ""), phaseChange(events.PodRunning, "", "", 1, false),
			st(running, "", 3, running, ""), nil},
		{"running after a restart keeps the last error", st(running, "", 0, reason.ImportFailed, "connection refused"), phaseChange(events.PodRunning, "", "", 1, false),
			st(running, "", 1, reason.ImportFailed, "connection refused"), nil},
		{"same phase with a reason of its own replaces", st(running, "", 1, reason.ImportFailed, "connection refused"), phaseChange(events.PodRunning, "CrashLoopBackOff", "back-off 20s", 1, false),
			st(running, "", 1, "CrashLoopBackOff", "back-off 20s"), nil},
		{"pending without reason keeps unschedulable", st(pending, "", 0, "Unschedulable", "0/1 nodes"), phaseChange(events.PodPending, "", "", 0, false),
			st(pending, "", 0, "Unschedulable", "0/1 nodes"), nil},
		{"scheduled ends unschedulable", st(pending, "", 0, "Unschedulable", "0/1 nodes"), phaseChange(events.PodScheduled, "", "", 0, false),
			st(pending, "", 0, "Scheduled", ""), nil},
		{"long message is cut", none, phaseChange(events.PodFailed, "", strings.Repeat("é", 1000), 0, true),
			st(failed, "", 0, reason.ImportFailed, strings.Repeat("é", 510)+"…"),
			[]record.Event{{Type: corev1.EventTypeWarning, Reason: reason.ImportFailed, Message: strings.Repeat("é", 510) + "…"}}},

		// Monotonic: old and out-of-order events.
		{"pending after running is old", st(running, "45.20%", 0, running, ""), phaseChange(events.PodPending, "Unschedulable", "x", 0, false),
			st(running, "45.20%", 0, running, ""), nil},
		{"old event still raises restarts", st(running, "", 0, running, ""), phaseChange(events.PodScheduled, "", "", 1, false),
			st(running, "", 1, running, ""), nil},
		{"progress after succeeded", st(succeeded, "100.00%", 0, "ImportSucceeded", "Import Complete"), progressChange(1, 10),
			st(succeeded, "100.00%", 0, "ImportSucceeded", "Import Complete"), nil},
		{"running after succeeded", st(succeeded, "100.00%", 0, "ImportSucceeded", ""), phaseChange(events.PodRunning, "", "", 4, false),
			st(succeeded, "100.00%", 0, "ImportSucceeded", ""), nil},
		{"failure after succeeded", st(succeeded, "100.00%", 0, "ImportSucceeded", ""), phaseChange(events.PodFailed, "", "boom", 0, true),
			st(succeeded, "100.00%", 0, "ImportSucceeded", ""), nil},
		{"success after failed", st(failed, "3.00%", 0, reason.ImportFailed, "404"), phaseChange(events.PodSucceeded, "", "", 0, false),
			st(failed, "3.00%", 0, reason.ImportFailed, "404"), nil},
		{"retryable failure after failed", st(failed, "", 0, reason.ImportFailed, "404"), phaseChange(events.PodFailed, "", "timeout", 0, false),
			st(failed, "", 0, reason.ImportFailed, "404"), nil},

		// Duplicates change nothing and record nothing.
		{"duplicate running", st(running, "", 0, running, ""), phaseChange(events.PodRunning, "", "", 0, false),
			st(running, "", 0, running, ""), nil},
		{"duplicate retryable failure", st(running, "", 0, reason.ImportFailed, "connection refused"), phaseChange(events.PodFailed, "", "connection refused", 0, false),
			st(running, "", 0, reason.ImportFailed, "connection refused"), nil},
		{"duplicate succeeded", st(succeeded, "100.00%", 0, "ImportSucceeded", "Import Complete"), phaseChange(events.PodSucceeded, "ImportSucceeded", "Import Complete", 0, false),
			st(succeeded, "100.00%", 0, "ImportSucceeded", "Import Complete"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, evs := decide(tt.cur, tt.c, reason.ImportOutcomes)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want != tt.cur, changed, "changed")
			assert.Equal(t, tt.events, evs)

			// Applying the same event again changes nothing.
			again, changed, evs := decide(got, tt.c, reason.ImportOutcomes)
			assert.Equal(t, got, again, "idempotent")
			assert.False(t, changed, "a duplicate changes nothing")
			assert.Empty(t, evs, "a duplicate records no Event")
		})
	}
}

// TestDecideOrderIndependence replays an import's events in every order:
// however they arrive, the claim ends Succeeded at 100.00% with the
// highest restart count, and exactly one ImportSucceeded is recorded.
func TestDecideOrderIndependence(t *testing.T) {
	seq := []change{
		phaseChange(events.PodPending, "Unschedulable", "0/1 nodes", 0, false),
		phaseChange(events.PodScheduled, "", "", 0, false),
		phaseChange(events.PodRunning, "", "", 0, false),
		progressChange(30, 100),
		phaseChange(events.PodFailed, "", "connection refused", 0, false),
		phaseChange(events.PodRunning, "", "", 1, false),
		progressChange(10, 100),
		progressChange(90, 100),
		phaseChange(events.PodSucceeded, "ImportSucceeded", "Import Complete", 1, false),
	}
	n := 0
	permute(seq, 0, func(order []change) {
		n++
		var s annotations.Status
		succeededEvents := 0
		for _, c := range order {
			var evs []record.Event
			s, _, evs = decide(s, c, reason.ImportOutcomes)
			for _, e := range evs {
				if e.Reason == reason.ImportSucceeded {
					succeededEvents++
				}
			}
		}
		// Restarts come only from events seen before the final one.
		if s.Phase != succeeded || s.Progress != "100.00%" || succeededEvents != 1 || s.Restarts > 1 {
			t.Fatalf("order %+v ended %+v with %d ImportSucceeded Events", order, s, succeededEvents)
		}
	})
	assert.Equal(t, 362880, n)
}

// TestDecideProgressMonotonic checks, for every order of a run's progress
// events, that the annotation never decreases.
func TestDecideProgressMonotonic(t *testing.T) {
	seq := []change{progressChange(1, 7), progressChange(3, 7), progressChange(0, 7), progressChange(5, -1),
		progressChange(6, 7), progressChange(2, 7), progressChange(7, 7)}
	permute(seq, 0, func(order []change) {
		s := st(running, "", 0, running, "")
		last := int64(-1)
		for _, c := range order {
			s, _, _ = decide(s, c, reason.ImportOutcomes)
			p := parseProgress(s.Progress)
			if p < last {
				t.Fatalf("order %+v: progress went from %d to %d", order, last, p)
			}
			last = p
		}
		assert.Equal(t, "100.00%", s.Progress)
	})
}

// permute calls f with every permutation of s (in place, Heap-style
// recursion).
func permute(s []change, k int, f func([]change)) {
	if k == len(s) {
		f(s)
		return
	}
	for i := k; i < len(s); i++ {
		s[k], s[i] = s[i], s[k]
		permute(s, k+1, f)
		s[k], s[i] = s[i], s[k]
	}
}

func TestProgressFormat(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"45.20%", 4520}, {"45.2%", 4520}, {"0.00%", 0}, {"100.00%", 10000}, {"7%", 700},
		{"12.345%", 1234}, {"", -1}, {"abc", -1}, {"-3.00%", -1}, {"1.x%", -1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, parseProgress(tt.in), tt.in)
	}
	for _, p := range []int64{0, 5, 50, 4520, 9999, 10000} {
		assert.Equal(t, p, parseProgress(formatProgress(p)), "round trip %d", p)
	}
	assert.Equal(t, "45.20%", formatProgress(4520))
	assert.Equal(t, "0.05%", formatProgress(5))
	assert.Equal(t, "100.00%", formatProgress(10000))
}

func BenchmarkDecide(b *testing.B) {
	cur := st(running, "45.20%", 1, running, "")
	c := progressChange(4600, 10000)
	b.ReportAllocs()
	for b.Loop() {
		decide(cur, c, reason.ImportOutcomes)
	}
}

// TestDecideUpload: an upload target's status has the upload's reasons,
// and its ready annotation follows the upload pod until the work ends.
func TestDecideUpload(t *testing.T) {
	yes, no := true, false
	ready := func(r *bool) change {
		c := phaseChange(events.PodRunning, "", "", 0, false)
		c.ready = r
		return c
	}
	s := annotations.Status{}
	s, changed, _ := decide(s, ready(&no), reason.UploadOutcomes)
	assert.True(t, changed)
	assert.Equal(t, annotations.Status{Phase: annotations.PhaseRunning, Reason: annotations.PhaseRunning, Ready: "false"}, s)

	s, changed, _ = decide(s, ready(&yes), reason.UploadOutcomes)
	assert.True(t, changed, "readiness alone is news")
	assert.Equal(t, "true", s.Ready)
	_, changed, _ = decide(s, ready(&yes), reason.UploadOutcomes)
	assert.False(t, changed)

	done, changed, evs := decide(s, phaseChange(events.PodSucceeded, "", "", 0, false), reason.UploadOutcomes)
	assert.True(t, changed)
	assert.Equal(t, annotations.Status{Phase: annotations.PhaseSucceeded, Progress: "100.00%", Reason: reason.UploadSucceeded, Ready: "false"}, done)
	assert.Equal(t, []record.Event{{Type: corev1.EventTypeNormal, Reason: reason.UploadSucceeded, Message: "Upload Complete"}}, evs)

	failed, _, evs := decide(s, phaseChange(events.PodFailed, "", "image larger than the claim", 0, true), reason.UploadOutcomes)
	assert.Equal(t, annotations.PhaseFailed, failed.Phase)
	assert.Equal(t, "false", failed.Ready)
	assert.Equal(t, []record.Event{{Type: corev1.EventTypeWarning, Reason: reason.UploadFailed, Message: "image larger than the claim"}}, evs)

	_, _, evs = decide(s, phaseChange(events.PodFailed, "", "listen: address in use", 1, false), reason.UploadOutcomes)
	assert.Equal(t, []record.Event{{Type: corev1.EventTypeWarning, Reason: reason.UploadRetrying, Message: "listen: address in use"}}, evs)

	imp, _, _ := decide(annotations.Status{}, phaseChange(events.PodRunning, "", "", 0, false), reason.ImportOutcomes)
	assert.Empty(t, imp.Ready, "an import's status has no ready annotation")
}

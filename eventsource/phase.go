package main

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

// podPhase derives the phase of a data pod from its status, for a
// DataPodPhase event (the Claim is left for the caller to fill):
//
//   - pod phase Succeeded → Succeeded (ImportSucceeded; for upload pods
//     the reasons are the upload's: UploadSucceeded, ErrUploadFailed,
//     UploadRetrying);
//   - a container whose last run ended with a permanent exit status
//     (datapod.PermanentExit: 1, or 2 for a configuration error) → Failed,
//     Permanent, ErrImportFailed with the data mover's termination message,
//     whatever the pod phase (restartPolicy OnFailure would only restart it
//     into the same failure);
//   - pod phase Failed for any other cause (evicted, deadline exceeded,
//     node lost) → Failed, not Permanent, with the kubelet's reason and
//     message: the attempt is over but the work is not done, so a new data
//     pod may do it (see importIntent);
//   - not scheduled → Pending with the scheduler's reason (Unschedulable);
//   - scheduled, container not running → Scheduled (or Running if the pod
//     is Running, i.e. the container is between restarts) with the
//     container's waiting reason (ContainerCreating, ErrImagePull,
//     CrashLoopBackOff…);
//   - container running → Running; after a restart the reason says why the
//     last run ended (ImportRetrying, OOMKilled);
//   - pod phase Unknown (node not reporting) → Running, PodUnknown;
//   - a container that restarted maxRestarts times (when not zero) and is
//     not running now → Failed, Permanent, ErrTooManyRestarts with its last
//     error: a pod that keeps failing never ends by itself.
//
// Message is the data mover's termination message when a run ended (its
// last error), else the kubelet's or scheduler's message, else the
// reason. Restarts is the container's restart count. For an upload pod,
// Ready tells whether it listens now (Running, not being deleted, its
// Ready condition true).
func podPhase(pod *corev1.Pod, maxRestarts int32) events.DataPodPhasePayload {
	p := events.DataPodPhasePayload{Pod: events.Pod{Name: pod.Name, UID: string(pod.UID)}}
	out := outcomes(pod)
	cs := mainContainer(pod)
	var last *corev1.ContainerStateTerminated
	if cs != nil {
		p.Restarts = cs.RestartCount
		last = lastRun(cs)
	}

	switch {
	case pod.Status.Phase == corev1.PodSucceeded:
		p.Phase, p.Reason = events.PodSucceeded, out.Succeeded
		p.Message = terminationMessage(last)
	case last != nil && datapod.PermanentExit(last.ExitCode):
		p.Phase, p.Reason, p.Permanent = events.PodFailed, out.Failed, true
		p.Message = terminationMessage(last)
	case maxRestarts > 0 && cs != nil && cs.RestartCount >= maxRestarts && cs.State.Running == nil &&
		pod.Status.Phase != corev1.PodFailed:
		p.Phase, p.Reason, p.Permanent = events.PodFailed, reason.TooManyRestarts, true
		p.Message = fmt.Sprintf("gave up after %d restarts", cs.RestartCount)
		if m := terminationMessage(last); m != "" {
			p.Message += "; the last run ended: " + m
		}
	case pod.Status.Phase == corev1.PodFailed:
		p.Phase = events.PodFailed
		switch {
		case pod.Status.Reason != "":
			p.Reason, p.Message = pod.Status.Reason, pod.Status.Message
		case last != nil && last.Reason != "" && last.Reason != "Error":
			p.Reason, p.Message = last.Reason, terminationMessage(last)
		default:
			p.Reason, p.Message = reason.PodFailed, terminationMessage(last)
		}
	case pod.Status.Phase == corev1.PodUnknown:
		// The node stopped reporting; the pod may still run there.
		p.Phase, p.Reason, p.Message = events.PodRunning, pod.Status.Reason, pod.Status.Message
		if p.Reason == "" {
			p.Reason = reason.PodUnknown
		}
	case !scheduled(pod):
		p.Phase = events.PodPending
		if c := condition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
			p.Reason, p.Message = c.Reason, c.Message
		}
	case cs != nil && cs.State.Running != nil && pod.Status.Phase == corev1.PodRunning:
		p.Phase = events.PodRunning
		if last != nil {
			p.Reason, p.Message = retryReason(last, out), terminationMessage(last)
		}
	default:
		p.Phase = events.PodScheduled
		if pod.Status.Phase == corev1.PodRunning {
			p.Phase = events.PodRunning
		}
		switch {
		case cs != nil && cs.State.Waiting != nil:
			p.Reason, p.Message = cs.State.Waiting.Reason, cs.State.Waiting.Message
		case last != nil:
			p.Reason = retryReason(last, out)
		}
		if last != nil {
			// The data mover's last error says more than "back-off
			// restarting failed container".
			p.Message = terminationMessage(last)
		}
	}
	p.Message = strings.TrimSpace(p.Message)
	if p.Message == "" {
		p.Message = p.Reason
	}
	if pod.Labels[datapod.LabelKind] == datapod.KindUpload {
		ready := p.Phase == events.PodRunning && pod.DeletionTimestamp == nil && podReady(pod)
		p.Ready = &ready
	}
	return p
}

// outcomes are the reasons of the pod's kind of work.
func outcomes(pod *corev1.Pod) reason.Outcomes {
	if pod.Labels[datapod.LabelKind] == datapod.KindUpload {
		return reason.UploadOutcomes
	}
	return reason.ImportOutcomes
}

// podReady reports the pod's Ready condition: an upload pod is ready when
// it listens (its readiness probe).
func podReady(pod *corev1.Pod) bool {
	c := condition(pod, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

// mainContainer returns the status of the pod's first container (the data
// mover), or nil before the kubelet reported any.
func mainContainer(pod *corev1.Pod) *corev1.ContainerStatus {
	if len(pod.Status.ContainerStatuses) == 0 {
		return nil
	}
	if len(pod.Spec.Containers) > 0 {
		for i := range pod.Status.ContainerStatuses {
			if pod.Status.ContainerStatuses[i].Name == pod.Spec.Containers[0].Name {
				return &pod.Status.ContainerStatuses[i]
			}
		}
	}
	return &pod.Status.ContainerStatuses[0]
}

// lastRun returns how the container's latest finished run ended: the
// current state if it is terminated, else the last termination state.
func lastRun(cs *corev1.ContainerStatus) *corev1.ContainerStateTerminated {
	if cs.State.Terminated != nil {
		return cs.State.Terminated
	}
	return cs.LastTerminationState.Terminated
}

// retryReason names why a run that the kubelet restarts ended.
func retryReason(t *corev1.ContainerStateTerminated, out reason.Outcomes) string {
	if t.Reason != "" && t.Reason != "Error" && t.Reason != "Completed" {
		return t.Reason // OOMKilled, ContainerCannotRun…
	}
	return out.Retrying
}

// terminationMessage is the data mover's termination log (its last
// error), else the kubelet's reason for the end of the run.
func terminationMessage(t *corev1.ContainerStateTerminated) string {
	if t == nil {
		return ""
	}
	if m := strings.TrimSpace(t.Message); m != "" {
		return m
	}
	return t.Reason
}

// scheduled reports whether the pod was bound to a node.
func scheduled(pod *corev1.Pod) bool {
	if pod.Spec.NodeName != "" {
		return true
	}
	c := condition(pod, corev1.PodScheduled)
	return c != nil && c.Status == corev1.ConditionTrue
}

// condition returns the pod's condition of type t, or nil.
func condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

func TestPodPhase(t *testing.T) {
	const (
		netErr   = "error: GET http://images/disk.img: connection refused"
		notFound = "error: GET http://images/missing.img: 404 Not Found"
	)
	tests := []struct {
		name string
		pod  *corev1.Pod
		want events.DataPodPhasePayload
	}{{
		name: "just created",
		pod:  gen.DataPod(gen.Claim("golden")),
		want: events.DataPodPhasePayload{Phase: events.PodPending},
	}, {
		name: "never scheduled",
		pod:  gen.DataPod(gen.Claim("golden"), gen.Unschedulable("0/1 nodes are available: 1 Insufficient memory.")),
		want: events.DataPodPhasePayload{Phase: events.PodPending, Reason: "Unschedulable",
			Message: "0/1 nodes are available: 1 Insufficient memory."},
	}, {
		name: "scheduled, container being created",
		pod:  gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.Container(gen.Waiting("ContainerCreating", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodScheduled, Reason: "ContainerCreating", Message: "ContainerCreating"},
	}, {
		name: "scheduled, no container status yet",
		pod:  gen.DataPod(gen.Claim("golden"), gen.OnNode("n1")),
		want: events.DataPodPhasePayload{Phase: events.PodScheduled},
	}, {
		name: "image cannot be pulled",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"),
			gen.Container(gen.Waiting("ErrImagePull", `failed to pull image "ko.local/datamover": not found`))),
		want: events.DataPodPhasePayload{Phase: events.PodScheduled, Reason: "ErrImagePull",
			Message: `failed to pull image "ko.local/datamover": not found`},
	}, {
		name: "secret missing",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"),
			gen.Container(gen.Waiting("CreateContainerConfigError", `secret "endpoint-secret" not found`))),
		want: events.DataPodPhasePayload{Phase: events.PodScheduled, Reason: "CreateContainerConfigError",
			Message: `secret "endpoint-secret" not found`},
	}, {
		name: "running",
		pod:  gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Running())),
		want: events.DataPodPhasePayload{Phase: events.PodRunning},
	}, {
		name: "running again after a network failure (exit 3)",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Running(), gen.Restarts(1), gen.LastTerminated(3, "Error", netErr+"\n"))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: reason.ImportRetrying, Message: netErr, Restarts: 1},
	}, {
		name: "crash loop after network failures (exit 3)",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Waiting("CrashLoopBackOff", "back-off 40s restarting failed container"), gen.Restarts(3), gen.LastTerminated(3, "Error", netErr))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: "CrashLoopBackOff", Message: netErr, Restarts: 3},
	}, {
		name: "just exited 3, not yet restarted",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Terminated(3, "Error", netErr))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: reason.ImportRetrying, Message: netErr},
	}, {
		name: "exit 3 without a termination message",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Running(), gen.Restarts(2), gen.LastTerminated(3, "Error", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: reason.ImportRetrying, Message: "Error", Restarts: 2},
	}, {
		name: "OOM-killed, restarted",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Running(), gen.Restarts(1), gen.LastTerminated(137, "OOMKilled", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: "OOMKilled", Message: "OOMKilled", Restarts: 1},
	}, {
		name: "OOM-killed, in back-off",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Waiting("CrashLoopBackOff", "back-off"), gen.Restarts(4), gen.LastTerminated(137, "OOMKilled", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: "CrashLoopBackOff", Message: "OOMKilled", Restarts: 4},
	}, {
		name: "permanent failure (exit 1), container still terminated",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Terminated(1, "Error", notFound))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.ImportFailed, Message: notFound, Permanent: true},
	}, {
		name: "permanent failure (exit 1), kubelet restarting it",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Waiting("CrashLoopBackOff", "back-off"), gen.Restarts(2), gen.LastTerminated(1, "Error", notFound))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.ImportFailed, Message: notFound, Permanent: true, Restarts: 2},
	}, {
		name: "permanent failure (exit 1) in a failed pod",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodFailed("DeadlineExceeded", "Pod was active on the node longer than the specified deadline"),
			gen.Container(gen.Terminated(1, "Error", notFound))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.ImportFailed, Message: notFound, Permanent: true},
	}, {
		name: "evicted",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodFailed("Evicted", "The node was low on resource: ephemeral-storage."),
			gen.Container(gen.Terminated(137, "Error", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: "Evicted", Message: "The node was low on resource: ephemeral-storage."},
	}, {
		name: "failed pod, OOM-killed, no pod reason",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodFailed),
			gen.Container(gen.Terminated(137, "OOMKilled", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: "OOMKilled", Message: "OOMKilled"},
	}, {
		name: "failed pod, nothing known",
		pod:  gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodFailed)),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.PodFailed, Message: reason.PodFailed},
	}, {
		name: "failed pod, exit 3 message kept",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodFailed),
			gen.Container(gen.Terminated(3, "Error", netErr))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.PodFailed, Message: netErr},
	}, {
		name: "node stopped reporting",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodUnknown),
			gen.Container(gen.Running(), gen.Restarts(1))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: reason.PodUnknown, Message: reason.PodUnknown, Restarts: 1},
	}, {
		name: "succeeded",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodSucceeded),
			gen.Container(gen.Terminated(0, "Completed", ""), gen.Restarts(1))),
		want: events.DataPodPhasePayload{Phase: events.PodSucceeded, Reason: reason.ImportSucceeded, Message: "Completed", Restarts: 1},
	}, {
		name: "the data mover container is found by name",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Running(), gen.Restarts(1), gen.LastTerminated(1, "Error", notFound)), gen.Sidecar(gen.Running())),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.ImportFailed, Message: notFound, Permanent: true, Restarts: 1},
	}, {
		name: "a configuration error (exit 2) is permanent too",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Waiting("CrashLoopBackOff", "back-off"), gen.Restarts(1), gen.LastTerminated(2, "Error", "error: DATAMOVER_CHECKSUM: bad"))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.ImportFailed, Message: "error: DATAMOVER_CHECKSUM: bad", Permanent: true, Restarts: 1},
	}, {
		name: "restarted as often as allowed, crash-looping: Failed for good",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Waiting("CrashLoopBackOff", "back-off"), gen.Restarts(10), gen.LastTerminated(3, "Error", netErr))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.TooManyRestarts,
			Message: "gave up after 10 restarts; the last run ended: " + netErr, Permanent: true, Restarts: 10},
	}, {
		name: "restarted as often as allowed but running again: give it its run",
		pod: gen.DataPod(gen.Claim("golden"), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Running(), gen.Restarts(10), gen.LastTerminated(3, "Error", netErr))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: reason.ImportRetrying, Message: netErr, Restarts: 10},
	}, {
		name: "upload pod starting: not ready",
		pod:  gen.DataPod(gen.Claim("up"), gen.Upload(), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Running()), gen.Ready(false)),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Ready: ptr.To(false)},
	}, {
		name: "upload pod listening: ready",
		pod:  gen.DataPod(gen.Claim("up"), gen.Upload(), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Running()), gen.Ready(true)),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Ready: ptr.To(true)},
	}, {
		name: "upload pod being deleted: not ready any more",
		pod: gen.DataPod(gen.Claim("up"), gen.Upload(), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning), gen.Container(gen.Running()),
			gen.Ready(true), gen.PodDeleting()),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Ready: ptr.To(false)},
	}, {
		name: "upload pod done: the upload's reasons",
		pod:  gen.DataPod(gen.Claim("up"), gen.Upload(), gen.OnNode("n1"), gen.PodPhase(corev1.PodSucceeded), gen.Container(gen.Terminated(0, "Completed", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodSucceeded, Reason: reason.UploadSucceeded, Message: "Completed", Ready: ptr.To(false)},
	}, {
		name: "upload pod restarted after a retryable failure",
		pod: gen.DataPod(gen.Claim("up"), gen.Upload(), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Running(), gen.Restarts(1), gen.LastTerminated(3, "Error", "listen: address in use")), gen.Ready(true)),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: reason.UploadRetrying, Message: "listen: address in use", Restarts: 1, Ready: ptr.To(true)},
	}, {
		name: "upload pod failed for good",
		pod: gen.DataPod(gen.Claim("up"), gen.Upload(), gen.OnNode("n1"), gen.PodPhase(corev1.PodRunning),
			gen.Container(gen.Terminated(2, "Error", "error: --target is required"))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.UploadFailed, Message: "error: --target is required", Permanent: true, Ready: ptr.To(false)},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Pod = events.Pod{Name: tt.pod.Name, UID: string(tt.pod.UID)}
			assert.Equal(t, tt.want, podPhase(tt.pod, 10))
		})
	}
}

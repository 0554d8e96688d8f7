package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/events"
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
		pod:  dataPod("golden"),
		want: events.DataPodPhasePayload{Phase: events.PodPending},
	}, {
		name: "never scheduled",
		pod:  dataPod("golden", unschedulable("0/1 nodes are available: 1 Insufficient memory.")),
		want: events.DataPodPhasePayload{Phase: events.PodPending, Reason: "Unschedulable",
			Message: "0/1 nodes are available: 1 Insufficient memory."},
	}, {
		name: "scheduled, container being created",
		pod:  dataPod("golden", onNode("n1"), container(waiting("ContainerCreating", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodScheduled, Reason: "ContainerCreating", Message: "ContainerCreating"},
	}, {
		name: "scheduled, no container status yet",
		pod:  dataPod("golden", onNode("n1")),
		want: events.DataPodPhasePayload{Phase: events.PodScheduled},
	}, {
		name: "image cannot be pulled",
		pod: dataPod("golden", onNode("n1"),
			container(waiting("ErrImagePull", `failed to pull image "ko.local/datamover": not found`))),
		want: events.DataPodPhasePayload{Phase: events.PodScheduled, Reason: "ErrImagePull",
			Message: `failed to pull image "ko.local/datamover": not found`},
	}, {
		name: "secret missing",
		pod: dataPod("golden", onNode("n1"),
			container(waiting("CreateContainerConfigError", `secret "endpoint-secret" not found`))),
		want: events.DataPodPhasePayload{Phase: events.PodScheduled, Reason: "CreateContainerConfigError",
			Message: `secret "endpoint-secret" not found`},
	}, {
		name: "running",
		pod:  dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodRunning), container(running())),
		want: events.DataPodPhasePayload{Phase: events.PodRunning},
	}, {
		name: "running again after a network failure (exit 3)",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodRunning),
			container(running(), restarts(1), lastTerminated(3, "Error", netErr+"\n"))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: ReasonImportRetrying, Message: netErr, Restarts: 1},
	}, {
		name: "crash loop after network failures (exit 3)",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodRunning),
			container(waiting("CrashLoopBackOff", "back-off 40s restarting failed container"), restarts(3), lastTerminated(3, "Error", netErr))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: "CrashLoopBackOff", Message: netErr, Restarts: 3},
	}, {
		name: "just exited 3, not yet restarted",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodRunning),
			container(terminated(3, "Error", netErr))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: ReasonImportRetrying, Message: netErr},
	}, {
		name: "exit 3 without a termination message",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodRunning),
			container(running(), restarts(2), lastTerminated(3, "Error", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: ReasonImportRetrying, Message: "Error", Restarts: 2},
	}, {
		name: "OOM-killed, restarted",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodRunning),
			container(running(), restarts(1), lastTerminated(137, "OOMKilled", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: "OOMKilled", Message: "OOMKilled", Restarts: 1},
	}, {
		name: "OOM-killed, in back-off",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodRunning),
			container(waiting("CrashLoopBackOff", "back-off"), restarts(4), lastTerminated(137, "OOMKilled", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: "CrashLoopBackOff", Message: "OOMKilled", Restarts: 4},
	}, {
		name: "permanent failure (exit 1), container still terminated",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodRunning),
			container(terminated(1, "Error", notFound))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: ReasonImportFailed, Message: notFound, Permanent: true},
	}, {
		name: "permanent failure (exit 1), kubelet restarting it",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodRunning),
			container(waiting("CrashLoopBackOff", "back-off"), restarts(2), lastTerminated(1, "Error", notFound))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: ReasonImportFailed, Message: notFound, Permanent: true, Restarts: 2},
	}, {
		name: "permanent failure (exit 1) in a failed pod",
		pod: dataPod("golden", onNode("n1"), podFailed("DeadlineExceeded", "Pod was active on the node longer than the specified deadline"),
			container(terminated(1, "Error", notFound))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: ReasonImportFailed, Message: notFound, Permanent: true},
	}, {
		name: "evicted",
		pod: dataPod("golden", onNode("n1"), podFailed("Evicted", "The node was low on resource: ephemeral-storage."),
			container(terminated(137, "Error", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: "Evicted", Message: "The node was low on resource: ephemeral-storage."},
	}, {
		name: "failed pod, OOM-killed, no pod reason",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodFailed),
			container(terminated(137, "OOMKilled", ""))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: "OOMKilled", Message: "OOMKilled"},
	}, {
		name: "failed pod, nothing known",
		pod:  dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodFailed)),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: ReasonPodFailed, Message: ReasonPodFailed},
	}, {
		name: "failed pod, exit 3 message kept",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodFailed),
			container(terminated(3, "Error", netErr))),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: ReasonPodFailed, Message: netErr},
	}, {
		name: "node stopped reporting",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodUnknown),
			container(running(), restarts(1))),
		want: events.DataPodPhasePayload{Phase: events.PodRunning, Reason: ReasonPodUnknown, Message: ReasonPodUnknown, Restarts: 1},
	}, {
		name: "succeeded",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodSucceeded),
			container(terminated(0, "Completed", ""), restarts(1))),
		want: events.DataPodPhasePayload{Phase: events.PodSucceeded, Reason: ReasonImportSucceeded, Message: "Completed", Restarts: 1},
	}, {
		name: "the data mover container is found by name",
		pod: dataPod("golden", onNode("n1"), podPhaseIs(corev1.PodRunning),
			container(running(), restarts(1), lastTerminated(1, "Error", notFound)), sidecar(running())),
		want: events.DataPodPhasePayload{Phase: events.PodFailed, Reason: ReasonImportFailed, Message: notFound, Permanent: true, Restarts: 1},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Pod = events.Pod{Name: tt.pod.Name, UID: string(tt.pod.UID)}
			assert.Equal(t, tt.want, podPhase(tt.pod))
		})
	}
}

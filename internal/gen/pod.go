package gen

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cdi-functions/cdi-functions/pkg/datapod"
)

// PodOption changes a pod under construction.
type PodOption func(*corev1.Pod)

// DataPod builds the import data pod of claim as the contract of
// pkg/datapod has it (name, labels, annotation, owner reference), with UID
// "pod-uid-<claim name>", Pending, one container named
// datapod.ImportContainer.
func DataPod(claim *corev1.PersistentVolumeClaim, opts ...PodOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: claim.Namespace,
			Name:      datapod.ImportPodName(claim.Name),
			UID:       types.UID("pod-uid-" + claim.Name),
			Labels: map[string]string{
				datapod.LabelManagedBy: datapod.ManagedBy,
				datapod.LabelKind:      datapod.KindImport,
				datapod.LabelClaimUID:  string(claim.UID),
			},
			Annotations:     map[string]string{datapod.AnnotationClaimName: claim.Name},
			OwnerReferences: []metav1.OwnerReference{datapod.ClaimOwnerReference(claim)},
		},
		Spec: corev1.PodSpec{
			Containers:    []corev1.Container{{Name: datapod.ImportContainer}},
			RestartPolicy: corev1.RestartPolicyOnFailure,
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Upload makes the pod the claim's upload data pod (its name, kind and
// container); use it before Container.
func Upload() PodOption {
	return func(p *corev1.Pod) {
		p.Name = datapod.UploadPodName(p.Annotations[datapod.AnnotationClaimName])
		p.Labels[datapod.LabelKind] = datapod.KindUpload
		p.Spec.Containers[0].Name = datapod.UploadContainer
	}
}

// Ready sets the pod's Ready condition.
func Ready(ready bool) PodOption {
	return func(p *corev1.Pod) {
		s := corev1.ConditionFalse
		if ready {
			s = corev1.ConditionTrue
		}
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: s})
	}
}

// WithPodUID sets the pod's UID.
func WithPodUID(uid string) PodOption {
	return func(p *corev1.Pod) { p.UID = types.UID(uid) }
}

// WithClaimUID sets the claim-uid label.
func WithClaimUID(uid string) PodOption {
	return func(p *corev1.Pod) { p.Labels[datapod.LabelClaimUID] = uid }
}

// WithoutOwner removes the owner references.
func WithoutOwner() PodOption {
	return func(p *corev1.Pod) { p.OwnerReferences = nil }
}

// PodPhase sets the pod's phase.
func PodPhase(phase corev1.PodPhase) PodOption {
	return func(p *corev1.Pod) { p.Status.Phase = phase }
}

// PodDeleting marks the pod as being deleted.
func PodDeleting() PodOption {
	return func(p *corev1.Pod) {
		now := metav1.Unix(1700000000, 0)
		p.DeletionTimestamp = &now
	}
}

// PodFailed is a pod the kubelet ended, e.g. evicted.
func PodFailed(reason, message string) PodOption {
	return func(p *corev1.Pod) {
		p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, reason, message
	}
}

// Unschedulable is a pod the scheduler cannot place.
func Unschedulable(message string) PodOption {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: message,
		})
	}
}

// OnNode binds the pod to node.
func OnNode(node string) PodOption {
	return func(p *corev1.Pod) {
		p.Spec.NodeName = node
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
	}
}

// ContainerOption changes a container status.
type ContainerOption func(*corev1.ContainerStatus)

// Container sets the data mover container's status.
func Container(opts ...ContainerOption) PodOption {
	return func(p *corev1.Pod) {
		cs := corev1.ContainerStatus{Name: p.Spec.Containers[0].Name}
		for _, o := range opts {
			o(&cs)
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, cs)
	}
}

// Sidecar adds the status of a second container, listed first.
func Sidecar(opts ...ContainerOption) PodOption {
	return func(p *corev1.Pod) {
		cs := corev1.ContainerStatus{Name: "sidecar"}
		for _, o := range opts {
			o(&cs)
		}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar"})
		p.Status.ContainerStatuses = append([]corev1.ContainerStatus{cs}, p.Status.ContainerStatuses...)
	}
}

// Running is a running container.
func Running() ContainerOption {
	return func(cs *corev1.ContainerStatus) {
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	}
}

// Waiting is a container waiting for reason.
func Waiting(reason, message string) ContainerOption {
	return func(cs *corev1.ContainerStatus) {
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}
	}
}

// Terminated is a container whose run ended with code.
func Terminated(code int32, reason, message string) ContainerOption {
	return func(cs *corev1.ContainerStatus) {
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: message}}
	}
}

// LastTerminated records how the container's previous run ended.
func LastTerminated(code int32, reason, message string) ContainerOption {
	return func(cs *corev1.ContainerStatus) {
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: message}}
	}
}

// Restarts sets the restart count.
func Restarts(n int32) ContainerOption {
	return func(cs *corev1.ContainerStatus) { cs.RestartCount = n }
}

package main

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
)

// Object builders for tests, in the cert-manager style:
// claim("golden", withEndpoint(url), withStatus(annotations.PhaseRunning)).

const testNamespace = "default"

type claimOption func(*corev1.PersistentVolumeClaim)

func claim(name string, opts ...claimOption) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
		Namespace: testNamespace, Name: name, UID: types.UID("uid-" + name), Annotations: map[string]string{},
	}}
	for _, o := range opts {
		o(c)
	}
	return c
}

func withEndpoint(url string) claimOption {
	return withAnnotation(annotations.Endpoint, url)
}

func withAnnotation(k, v string) claimOption {
	return func(c *corev1.PersistentVolumeClaim) { c.Annotations[k] = v }
}

// withStatus sets the status annotations the updater writes.
func withStatus(s annotations.Status) claimOption {
	return func(c *corev1.PersistentVolumeClaim) {
		for k, v := range s.Annotations() {
			c.Annotations[k] = v
		}
	}
}

func withPhase(phase string) claimOption {
	return withStatus(annotations.Status{Phase: phase})
}

func deleting() claimOption {
	return func(c *corev1.PersistentVolumeClaim) {
		now := metav1.Now()
		c.DeletionTimestamp = &now
		c.Finalizers = []string{"kubernetes.io/pvc-protection"}
	}
}

type podOption func(*corev1.Pod)

// dataPod builds the import data pod of the claim claimName, following
// the data pod contract (pkg/datapod).
func dataPod(claimName string, opts ...podOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: testNamespace,
			Name:      datapod.ImportPodName(claimName),
			UID:       types.UID("pod-uid-" + claimName),
			Labels: map[string]string{
				datapod.LabelManagedBy: datapod.ManagedBy,
				datapod.LabelKind:      datapod.KindImport,
				datapod.LabelClaimUID:  "uid-" + claimName,
			},
			Annotations: map[string]string{datapod.AnnotationClaimName: claimName},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "PersistentVolumeClaim", Name: claimName, UID: types.UID("uid-" + claimName),
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{
			Containers:    []corev1.Container{{Name: "importer"}},
			RestartPolicy: corev1.RestartPolicyOnFailure,
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withClaimUID(uid string) podOption {
	return func(p *corev1.Pod) { p.Labels[datapod.LabelClaimUID] = uid }
}

func podPhaseIs(phase corev1.PodPhase) podOption {
	return func(p *corev1.Pod) { p.Status.Phase = phase }
}

// podFailed is a pod the kubelet ended, e.g. evicted.
func podFailed(reason, message string) podOption {
	return func(p *corev1.Pod) {
		p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, reason, message
	}
}

func unschedulable(message string) podOption {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: message,
		})
	}
}

func onNode(node string) podOption {
	return func(p *corev1.Pod) {
		p.Spec.NodeName = node
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
	}
}

// container sets the data mover container's status.
func container(opts ...func(*corev1.ContainerStatus)) podOption {
	return func(p *corev1.Pod) {
		cs := corev1.ContainerStatus{Name: "importer"}
		for _, o := range opts {
			o(&cs)
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, cs)
	}
}

// sidecar adds the status of a second container, listed first.
func sidecar(opts ...func(*corev1.ContainerStatus)) podOption {
	return func(p *corev1.Pod) {
		cs := corev1.ContainerStatus{Name: "sidecar"}
		for _, o := range opts {
			o(&cs)
		}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar"})
		p.Status.ContainerStatuses = append([]corev1.ContainerStatus{cs}, p.Status.ContainerStatuses...)
	}
}

func running() func(*corev1.ContainerStatus) {
	return func(cs *corev1.ContainerStatus) {
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	}
}

func waiting(reason, message string) func(*corev1.ContainerStatus) {
	return func(cs *corev1.ContainerStatus) {
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}
	}
}

func terminated(code int32, reason, message string) func(*corev1.ContainerStatus) {
	return func(cs *corev1.ContainerStatus) {
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: message}}
	}
}

func lastTerminated(code int32, reason, message string) func(*corev1.ContainerStatus) {
	return func(cs *corev1.ContainerStatus) {
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: message}}
	}
}

func restarts(n int32) func(*corev1.ContainerStatus) {
	return func(cs *corev1.ContainerStatus) { cs.RestartCount = n }
}

func cacheTombstone(obj any) cache.DeletedFinalStateUnknown {
	return cache.DeletedFinalStateUnknown{Key: "tombstone", Obj: obj}
}

package datapod

import corev1 "k8s.io/api/core/v1"

// Holder says whose a pod holding a data pod's name is.
type Holder int

const (
	// HeldByClaim: the claim's own data pod of that kind (a duplicate
	// request: nothing to do).
	HeldByClaim Holder = iota
	// HeldByEarlierClaim: the data pod of an earlier claim of the same
	// name, which garbage collection has yet to delete (retry later).
	HeldByEarlierClaim
	// HeldByOther: a pod that is not a data pod of that kind (wait: the
	// user may remove it).
	HeldByOther
)

// Whose judges pod, found under the name of claim's data pod of kind.
func Whose(pod *corev1.Pod, claim *corev1.PersistentVolumeClaim, kind string) Holder {
	switch {
	case !IsDataPod(pod, kind):
		return HeldByOther
	case pod.Labels[LabelClaimUID] != string(claim.UID):
		return HeldByEarlierClaim
	}
	return HeldByClaim
}

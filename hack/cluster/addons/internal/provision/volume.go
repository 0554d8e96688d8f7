package provision

import (
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// AnnProvisionedBy is set by the PV controller's convention on every
	// dynamically provisioned volume: who provisioned it.
	AnnProvisionedBy = "pv.kubernetes.io/provisioned-by"
	// AnnStorageProvisioner is set on a claim by kube-controller-manager
	// when the claim's StorageClass names an external provisioner.
	AnnStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	// AnnBackingFile records the sparse file behind a Block volume's loop
	// device, so that the device can be detached when the volume goes.
	AnnBackingFile = "local.cdi-functions.io/backing-file"
	// HostnameLabel is the node label local volumes are pinned with.
	HostnameLabel = "kubernetes.io/hostname"
)

// Config is what every volume of this provisioner shares.
type Config struct {
	// Name is the provisioner name StorageClasses refer to.
	Name string
	// Node is the name of the one node the volumes live on.
	Node string
	// Dir is the host directory volumes are created in.
	Dir string
}

// VolumeName is the PersistentVolume name for a claim: one per claim UID,
// so that a re-run never provisions twice.
func VolumeName(claim *corev1.PersistentVolumeClaim) string {
	return "pvc-" + string(claim.UID)
}

// Wants reports whether the claim waits for a volume from this provisioner.
func (c Config) Wants(claim *corev1.PersistentVolumeClaim) bool {
	return claim.Annotations[AnnStorageProvisioner] == c.Name &&
		claim.Spec.VolumeName == "" &&
		claim.Status.Phase == corev1.ClaimPending &&
		claim.DeletionTimestamp == nil
}

// IsBlock reports whether the claim asks for a raw block device.
func IsBlock(claim *corev1.PersistentVolumeClaim) bool {
	return claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock
}

// Size is the claim's requested storage.
func Size(claim *corev1.PersistentVolumeClaim) (resource.Quantity, error) {
	q, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok || q.Sign() <= 0 {
		return resource.Quantity{}, fmt.Errorf("claim %s/%s requests no storage", claim.Namespace, claim.Name)
	}
	return q, nil
}

// BackingPath is where a claim's data lives on the host: a directory for
// a Filesystem claim, a sparse file for a Block claim.
func (c Config) BackingPath(claim *corev1.PersistentVolumeClaim) string {
	if IsBlock(claim) {
		return filepath.Join(c.Dir, VolumeName(claim)+".img")
	}
	return filepath.Join(c.Dir, VolumeName(claim))
}

// Volume builds the PersistentVolume for claim, pre-bound to it. path is the
// directory (Filesystem) or device (Block) kubelet mounts.
func (c Config) Volume(claim *corev1.PersistentVolumeClaim, path string) (*corev1.PersistentVolume, error) {
	size, err := Size(claim)
	if err != nil {
		return nil, err
	}
	mode := corev1.PersistentVolumeFilesystem
	ann := map[string]string{AnnProvisionedBy: c.Name}
	if IsBlock(claim) {
		mode = corev1.PersistentVolumeBlock
		ann[AnnBackingFile] = c.BackingPath(claim)
	}
	class := ""
	if claim.Spec.StorageClassName != nil {
		class = *claim.Spec.StorageClassName
	}
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: VolumeName(claim), Annotations: ann},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   claim.Spec.AccessModes,
			VolumeMode:                    &mode,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              class,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: HostnameLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{c.Node},
				}}}},
			}},
		},
	}, nil
}

// Releasable reports whether pv is one of this provisioner's volumes whose
// claim is gone, so that its data and the object are to be removed.
func (c Config) Releasable(pv *corev1.PersistentVolume) bool {
	if pv.Annotations[AnnProvisionedBy] != c.Name || pv.DeletionTimestamp != nil {
		return false
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		return false
	}
	return pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed
}

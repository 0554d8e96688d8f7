package gen

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

// Namespace is the namespace of the objects built here unless InNamespace
// says otherwise.
const Namespace = "default"

// ClaimOption changes a claim under construction.
type ClaimOption func(*corev1.PersistentVolumeClaim)

// Claim builds a 10Gi ReadWriteOnce Filesystem claim name in Namespace
// with UID "uid-<name>" and no annotations unless opts add them.
func Claim(name string, opts ...ClaimOption) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: Namespace, Name: name, UID: types.UID("uid-" + name),
			ResourceVersion: "1", Annotations: map[string]string{},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			},
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// ImportClaim is Claim with an import of http://images.example/disk.img.
func ImportClaim(name string, opts ...ClaimOption) *corev1.PersistentVolumeClaim {
	return Claim(name, append([]ClaimOption{WithEndpoint("http://images.example/disk.img")}, opts...)...)
}

// InNamespace puts the claim in ns.
func InNamespace(ns string) ClaimOption {
	return func(c *corev1.PersistentVolumeClaim) { c.Namespace = ns }
}

// WithUID sets the claim's UID.
func WithUID(uid string) ClaimOption {
	return func(c *corev1.PersistentVolumeClaim) { c.UID = types.UID(uid) }
}

// WithAnnotation sets an annotation.
func WithAnnotation(k, v string) ClaimOption {
	return func(c *corev1.PersistentVolumeClaim) { c.Annotations[k] = v }
}

// WithoutAnnotation removes an annotation.
func WithoutAnnotation(k string) ClaimOption {
	return func(c *corev1.PersistentVolumeClaim) { delete(c.Annotations, k) }
}

// WithEndpoint asks for an import of url.
func WithEndpoint(url string) ClaimOption { return WithAnnotation(annotations.Endpoint, url) }

// WithUploadTarget makes the claim an upload target (the 2018 post's
// empty annotation value).
func WithUploadTarget() ClaimOption { return WithAnnotation(annotations.UploadTarget, "") }

// WithSecret names the import's Secret.
func WithSecret(name string) ClaimOption { return WithAnnotation(annotations.SecretName, name) }

// WithCertConfigMap names the import's CA ConfigMap.
func WithCertConfigMap(name string) ClaimOption {
	return WithAnnotation(annotations.CertConfigMap, name)
}

// WithStatus sets the status annotations the updater writes.
func WithStatus(s annotations.Status) ClaimOption {
	return func(c *corev1.PersistentVolumeClaim) {
		for k, v := range s.Annotations() {
			c.Annotations[k] = v
		}
	}
}

// WithPhase sets the phase annotation.
func WithPhase(phase string) ClaimOption {
	return WithStatus(annotations.Status{Phase: phase})
}

// WithResourceVersion sets the claim's resourceVersion.
func WithResourceVersion(rv string) ClaimOption {
	return func(c *corev1.PersistentVolumeClaim) { c.ResourceVersion = rv }
}

// WithSize sets the requested storage.
func WithSize(q string) ClaimOption {
	return func(c *corev1.PersistentVolumeClaim) {
		c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse(q)
	}
}

// WithBlock makes the claim a Block volume.
func WithBlock() ClaimOption {
	return func(c *corev1.PersistentVolumeClaim) {
		m := corev1.PersistentVolumeBlock
		c.Spec.VolumeMode = &m
	}
}

// Deleting marks the claim as being deleted (held by the pvc-protection
// finalizer).
func Deleting() ClaimOption {
	return func(c *corev1.PersistentVolumeClaim) {
		now := metav1.Unix(1700000000, 0)
		c.DeletionTimestamp = &now
		c.Finalizers = []string{"kubernetes.io/pvc-protection"}
	}
}

// WithCloneRequest makes the claim a clone of source ("namespace/name").
func WithCloneRequest(source string) ClaimOption {
	return WithAnnotation(annotations.CloneRequest, source)
}

// Bound marks the claim Bound.
func Bound() ClaimOption {
	return func(c *corev1.PersistentVolumeClaim) { c.Status.Phase = corev1.ClaimBound }
}

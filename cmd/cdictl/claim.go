package main

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

// newClaim is the upload target cdictl creates.
func newClaim(o uploadOptions, namespace string, size resource.Quantity) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: o.pvc, Namespace: namespace, Annotations: map[string]string{annotations.UploadTarget: ""},
			Labels: map[string]string{"app": "containerized-data-importer"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.PersistentVolumeAccessMode(o.accessMode)},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	if o.storageClass != "" {
		c.Spec.StorageClassName = &o.storageClass
	}
	if o.block {
		m := corev1.PersistentVolumeBlock
		c.Spec.VolumeMode = &m
	}
	return c
}

// claimState is what the claim's annotations say about the upload.
type claimState int

// Claim states.
const (
	stateWaiting claimState = iota
	stateReady
	stateSucceeded
	stateFailed
)

// readState reads the updater's annotations.
func readState(c *corev1.PersistentVolumeClaim) claimState {
	switch c.Annotations[annotations.PodPhase] {
	case string(corev1.PodSucceeded):
		return stateSucceeded
	case string(corev1.PodFailed):
		return stateFailed
	}
	if c.Annotations[annotations.PodReady] == "true" {
		return stateReady
	}
	return stateWaiting
}

// checkTarget refuses an existing claim that is not an upload target.
func checkTarget(c *corev1.PersistentVolumeClaim) error {
	if _, ok := c.Annotations[annotations.UploadTarget]; !ok {
		return fmt.Errorf("claim %s/%s exists and is not an upload target (annotation %s)", c.Namespace, c.Name, annotations.UploadTarget)
	}
	return nil
}

// failure describes a failed claim plainly: its reason, message and the
// messages of its Warning events.
func failure(c *corev1.PersistentVolumeClaim, evs []corev1.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "the upload into %s/%s failed", c.Namespace, c.Name)
	if r := c.Annotations[annotations.Reason]; r != "" {
		fmt.Fprintf(&b, " (%s)", r)
	}
	if m := c.Annotations[annotations.Message]; m != "" {
		fmt.Fprintf(&b, ": %s", m)
	}
	for _, e := range evs {
		if e.Type == corev1.EventTypeWarning {
			fmt.Fprintf(&b, "\n  event %s: %s", e.Reason, e.Message)
		}
	}
	return b.String()
}

package datapod

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestOwns(t *testing.T) {
	golden := claim("golden")
	pod := func(mutate func(*corev1.Pod)) *corev1.Pod {
		p := ImportPod(golden, request(), testConfig)
		mutate(p)
		return p
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"the pod ImportPod builds", pod(func(*corev1.Pod) {}), true},
		{"label only", pod(func(p *corev1.Pod) { p.OwnerReferences = nil }), true},
		{"owner only", pod(func(p *corev1.Pod) { delete(p.Labels, LabelClaimUID) }), true},
		{"neither", pod(func(p *corev1.Pod) { p.OwnerReferences = nil; delete(p.Labels, LabelClaimUID) }), false},
		{"owner of another claim", pod(func(p *corev1.Pod) { p.OwnerReferences[0].UID = "uid-silver" }), false},
		{"owner matches, label does not", pod(func(p *corev1.Pod) { p.Labels[LabelClaimUID] = "uid-silver" }), false},
		{"owner of another kind with the same UID", pod(func(p *corev1.Pod) { p.OwnerReferences[0].Kind = "Job" }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Owns(golden, tt.pod))
		})
	}
	assert.False(t, OwnedBy("", pod(func(*corev1.Pod) {})), "no claim UID owns nothing")
}

func TestClaimOf(t *testing.T) {
	p := ImportPod(claim(strings.Repeat("x", 70)), request(), testConfig)
	got, ok := ClaimOf(p)
	assert.True(t, ok)
	assert.Equal(t, types.NamespacedName{Namespace: "default", Name: strings.Repeat("x", 70)}, got, "the full name, not the cut pod name")

	delete(p.Annotations, AnnotationClaimName)
	got, ok = ClaimOf(p)
	assert.True(t, ok, "the owner reference names it too")
	assert.Equal(t, strings.Repeat("x", 70), got.Name)

	p.OwnerReferences = nil
	_, ok = ClaimOf(p)
	assert.False(t, ok)
	assert.True(t, IsDataPod(ImportPod(claim("c"), request(), testConfig), KindImport))
}

func TestPermanentExit(t *testing.T) {
	for code, want := range map[int32]bool{ExitOK: false, ExitPermanent: true, ExitUsage: true, ExitRetryable: false, 137: false} {
		assert.Equal(t, want, PermanentExit(code), "exit %d", code)
	}
}

package datapod

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

func TestWhose(t *testing.T) {
	c := claim("golden")
	own := ImportPod(c, annotations.ImportRequest{Endpoint: "http://images.example/disk.img"}, testConfig)
	earlier := own.DeepCopy()
	earlier.Labels[LabelClaimUID] = "uid-old"
	foreign := &corev1.Pod{}
	foreign.Name = own.Name
	tests := []struct {
		name string
		pod  *corev1.Pod
		kind string
		want Holder
	}{
		{"the claim's own", own, KindImport, HeldByClaim},
		{"an earlier claim's", earlier, KindImport, HeldByEarlierClaim},
		{"not a data pod", foreign, KindImport, HeldByOther},
		{"a data pod of another kind", own, KindUpload, HeldByOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, Whose(tt.pod, c, tt.kind)) })
	}
}

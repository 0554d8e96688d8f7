package datapod

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestImportPodName(t *testing.T) {
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:4])
	}
	fits := strings.Repeat("x", 63-len("importer-"))
	tooLong := fits + "y"
	dashAt50 := strings.Repeat("d", 40) + "-" + strings.Repeat("e", 30) // "importer-" + 40 d's + "-" ends at 50
	tests := []struct {
		claim, want string
	}{
		{"golden-pvc", "importer-golden-pvc"},
		{fits, "importer-" + fits},
		{tooLong, ("importer-" + tooLong)[:50] + "-" + hash(tooLong)},
		{dashAt50, "importer-" + strings.Repeat("d", 40) + "-" + hash(dashAt50)},
	}
	for _, tt := range tests {
		t.Run(tt.claim, func(t *testing.T) {
			got := ImportPodName(tt.claim)
			assert.Equal(t, tt.want, got)
			assert.Empty(t, validation.IsDNS1123Label(got))
		})
	}
}

func TestSelectorMatchesImportPods(t *testing.T) {
	sel, err := labels.Parse(Selector)
	assert.NoError(t, err)
	p := ImportPod(claim("c"), request(), testConfig)
	assert.True(t, sel.Matches(labels.Set(p.Labels)), "the event source's informer sees import pods")
	assert.False(t, sel.Matches(labels.Set{LabelManagedBy: ManagedBy}), "other managed objects are not data pods")
}

package annotations

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCloneSourceOf(t *testing.T) {
	tests := []struct {
		name    string
		ann     map[string]string
		want    CloneSource
		ok      bool
		problem string
	}{
		{name: "no request", ann: map[string]string{Endpoint: "http://x"}},
		{name: "the 2018 post", ann: map[string]string{CloneRequest: "golden/golden-pvc"}, ok: true,
			want: CloneSource{Namespace: "golden", Name: "golden-pvc"}},
		{name: "spaces around", ann: map[string]string{CloneRequest: " vms/disk.v1 "}, ok: true,
			want: CloneSource{Namespace: "vms", Name: "disk.v1"}},
		{name: "no namespace part", ann: map[string]string{CloneRequest: "golden-pvc"}, ok: true, problem: "is not namespace/claim"},
		{name: "too many parts", ann: map[string]string{CloneRequest: "a/b/c"}, ok: true, problem: "is not namespace/claim"},
		{name: "empty", ann: map[string]string{CloneRequest: ""}, ok: true, problem: "is not namespace/claim"},
		{name: "bad namespace", ann: map[string]string{CloneRequest: "Golden/x"}, ok: true, problem: "is not a namespace name"},
		{name: "bad claim", ann: map[string]string{CloneRequest: "golden/X_Y"}, ok: true, problem: "is not a claim name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := CloneSourceOf(tc.ann)
			assert.Equal(t, tc.ok, ok)
			if tc.problem != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), CloneRequest)
				assert.Contains(t, err.Error(), tc.problem)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			if ok {
				assert.Equal(t, tc.want.Namespace+"/"+tc.want.Name, got.String())
			}
		})
	}
}

func TestValidateClone(t *testing.T) {
	assert.NoError(t, ValidateClone(map[string]string{CloneRequest: "golden/golden-pvc"}))
	assert.NoError(t, ValidateClone(map[string]string{Endpoint: "http://x"}), "not a clone")
	err := ValidateClone(map[string]string{CloneRequest: "golden/golden-pvc", UploadTarget: ""})
	require.Error(t, err)
	assert.Contains(t, err.Error(), UploadTarget)
	err = ValidateClone(map[string]string{CloneRequest: "golden/golden-pvc", Endpoint: "http://x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), Endpoint)
}

// FuzzCloneSource: any value parses without panicking; what parses names
// a namespace and a claim that print back as the value.
func FuzzCloneSource(f *testing.F) {
	for _, s := range []string{"golden/golden-pvc", "a/b/c", "/", "", " x/y ", "ns/" + strings.Repeat("a", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		src, ok, err := CloneSourceOf(map[string]string{CloneRequest: v})
		if !ok {
			t.Fatal("the annotation is there")
		}
		if err != nil {
			return
		}
		if src.String() != strings.TrimSpace(v) || src.Namespace == "" || src.Name == "" {
			t.Fatalf("%q parsed as %+v", v, src)
		}
	})
}

package v1beta1

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// The 2018 post's upload-token.yaml, with apiVersion v1beta1.
const seedYAML = `apiVersion: upload.cdi.kubevirt.io/v1beta1
kind: UploadTokenRequest
metadata:
  name: upload-pvc
  namespace: default
spec:
  pvcName: upload-pvc
`

func TestSeedYAML(t *testing.T) {
	var r UploadTokenRequest
	require.NoError(t, yaml.UnmarshalStrict([]byte(seedYAML), &r))
	assert.Equal(t, "upload.cdi.kubevirt.io/v1beta1", r.APIVersion)
	assert.Equal(t, "UploadTokenRequest", r.Kind)
	assert.Equal(t, "upload-pvc", r.Name)
	assert.Equal(t, "default", r.Namespace)
	assert.Equal(t, "upload-pvc", r.Spec.PvcName)

	r.Status.Token = "t"
	b, err := json.Marshal(&r)
	require.NoError(t, err)
	assert.JSONEq(t, `{"apiVersion":"upload.cdi.kubevirt.io/v1beta1","kind":"UploadTokenRequest",
		"metadata":{"name":"upload-pvc","namespace":"default"},"spec":{"pvcName":"upload-pvc"},"status":{"token":"t"}}`, string(b))
}

func TestDeepCopy(t *testing.T) {
	r := &UploadTokenRequest{ObjectMeta: metav1.ObjectMeta{Name: "a", Annotations: map[string]string{"k": "v"}}}
	c := r.DeepCopyObject().(*UploadTokenRequest)
	c.Annotations["k"] = "changed"
	assert.Equal(t, "v", r.Annotations["k"])

	l := &UploadTokenRequestList{Items: []UploadTokenRequest{*r}}
	lc := l.DeepCopyObject().(*UploadTokenRequestList)
	lc.Items[0].Annotations["k"] = "changed"
	assert.Equal(t, "v", l.Items[0].Annotations["k"])
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	require.NoError(t, AddToScheme(s))
	gvks, _, err := s.ObjectKinds(&UploadTokenRequest{})
	require.NoError(t, err)
	assert.Equal(t, SchemeGroupVersion.WithKind("UploadTokenRequest"), gvks[0])
}

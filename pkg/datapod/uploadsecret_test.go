package datapod

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUploadSecret(t *testing.T) {
	c := claim("upload-pvc")
	s := UploadSecret(c, "bearer-credential-0123456789", []byte("CERT"), []byte("KEY"))
	assert.Equal(t, UploadSecretName(string(c.UID)), s.Name)
	assert.Equal(t, "cdi-upload-"+string(c.UID), s.Name, "named by the claim's UID: never an earlier claim's")
	assert.Equal(t, c.Namespace, s.Namespace)
	require.Len(t, s.OwnerReferences, 1)
	assert.Equal(t, c.UID, s.OwnerReferences[0].UID, "goes with the claim")
	assert.Equal(t, string(c.UID), s.Labels[LabelClaimUID])
	assert.Equal(t, map[string][]byte{CredentialKey: []byte("bearer-credential-0123456789"), TLSCertKey: []byte("CERT"), TLSKeyKey: []byte("KEY")}, s.Data)
	assert.True(t, *s.Immutable)

	// The pod mounts exactly this Secret, under the names it reads.
	p := UploadPod(c, s.Name, testConfig)
	var mounted bool
	for _, v := range p.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == s.Name {
			mounted = true
		}
	}
	assert.True(t, mounted)
}

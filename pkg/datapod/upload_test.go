package datapod

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

func TestUploadPod(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	require.NoError(t, err)
	for _, c := range []*corev1.PersistentVolumeClaim{claim("fs"), claim("blk", withVolumeMode(corev1.PersistentVolumeBlock))} {
		p := UploadPod(c, "cdi-upload-"+c.Name+"-credential", testConfig)
		assert.Equal(t, UploadPodName(c.Name), p.Name)
		assert.Equal(t, KindUpload, p.Labels[LabelKind])
		assert.True(t, Owns(c, p), "owned by its claim")
		for _, r := range evaluator.EvaluatePod(psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}, &p.ObjectMeta, &p.Spec) {
			assert.True(t, r.Allowed, "%s: restricted: %s: %s", c.Name, r.ForbiddenReason, r.ForbiddenDetail)
		}
		ctr := container(t, p)
		assert.Equal(t, []string{"receive"}, ctr.Args)
		assert.Equal(t, int32(UploadPort), ctr.Ports[0].ContainerPort)
		require.NotNil(t, ctr.ReadinessProbe.TCPSocket, "ready when it listens")
		e := env(t, p)
		assert.Equal(t, CredentialDir+"/"+CredentialKey, e[EnvCredentialFile])
		assert.Equal(t, ":8443", e[EnvListen])
		assert.Equal(t, string(c.UID), e[EnvClaimUID])
		assert.Equal(t, CredentialDir, mounts(t, p)[volumeCredential])
		v := volume(p, volumeCredential)
		require.NotNil(t, v)
		assert.Equal(t, "cdi-upload-"+c.Name+"-credential", v.Secret.SecretName)
		if c.Name == "blk" {
			assert.Equal(t, BlockDevice, e[EnvTarget])
		} else {
			assert.Equal(t, DataDir, e[EnvTarget])
		}
	}
	assert.Equal(t, "cdi-upload-golden", UploadPodName("golden"))
}

// TestUploadPodContentType: uploads that name no content type take the
// claim's (an archive claim extracts a tar sent with the seed's curl).
func TestUploadPodContentType(t *testing.T) {
	envOf := func(c *corev1.PersistentVolumeClaim) string {
		for _, e := range UploadPod(c, "s", testConfig).Spec.Containers[0].Env {
			if e.Name == EnvContentType {
				return e.Value
			}
		}
		return ""
	}
	assert.Equal(t, "kubevirt", envOf(claim("plain")))
	assert.Equal(t, "archive", envOf(claim("tree", func(c *corev1.PersistentVolumeClaim) {
		c.Annotations = map[string]string{annotations.UploadTarget: "", annotations.ContentType: "archive"}
	})))
}

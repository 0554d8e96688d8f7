package config

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
)

// deployments reads the Deployments of config/.
func deployments(t *testing.T) map[string]appsv1.Deployment {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	out := map[string]appsv1.Deployment{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, doc := range bytes.Split(b, []byte("\n---")) {
			var d appsv1.Deployment
			require.NoError(t, yaml.Unmarshal(doc, &d), f)
			if d.Kind == "Deployment" {
				out[d.Name] = d
			}
		}
	}
	return out
}

// TestComponentsPresentTheirCredentials: the components run as the
// ServiceAccounts the functions trust (pkg/auth), and those that send
// events mount a projected token for auth.Audience where they read it.
func TestComponentsPresentTheirCredentials(t *testing.T) {
	deps := deployments(t)
	for name, sends := range map[string]bool{auth.EventSourceAccount: true, auth.ImporterAccount: true, auth.UpdaterAccount: false} {
		d, ok := deps[name]
		require.True(t, ok, "Deployment %s", name)
		spec := d.Spec.Template.Spec
		assert.Equal(t, name, spec.ServiceAccountName, "%s runs as the ServiceAccount the functions trust", name)
		var audience, mountPath string
		for _, v := range spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for _, src := range v.Projected.Sources {
				if src.ServiceAccountToken != nil && path.Base(auth.TokenFile) == src.ServiceAccountToken.Path {
					audience = src.ServiceAccountToken.Audience
					for _, m := range spec.Containers[0].VolumeMounts {
						if m.Name == v.Name {
							mountPath = m.MountPath
						}
					}
				}
			}
		}
		if !sends {
			assert.Empty(t, audience, "%s sends no events", name)
			continue
		}
		assert.Equal(t, auth.Audience, audience, "%s's token is for cdi-functions, not the API server", name)
		assert.Equal(t, path.Dir(auth.TokenFile), mountPath, "%s reads its token at auth.TokenFile", name)
	}
}

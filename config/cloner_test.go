package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/cdi-functions/cdi-functions/pkg/cloneauth"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
)

// TestClonerRBAC: in the system namespace the cloner reads exactly the
// clone authority (pkg/podcred) and the webhook's public key
// (pkg/cloneauth), by name, and never the webhook's private key; in
// users' namespaces it creates Secrets and Services but reads no Secret.
func TestClonerRBAC(t *testing.T) {
	reads := map[string][]string{}
	for _, d := range docs(t, "208-cloner-rbac.yaml") {
		kind, _ := kindOf(t, d)
		if kind != "ClusterRole" && kind != "Role" {
			continue
		}
		var role rbacv1.Role
		require.NoError(t, yaml.Unmarshal(d, &role))
		for _, r := range role.Rules {
			for _, res := range r.Resources {
				if kind == "ClusterRole" && res == "secrets" {
					assert.Equal(t, []string{"create"}, r.Verbs, "the cloner reads no Secret of a user's namespace")
				}
				if kind == "Role" {
					assert.Equal(t, []string{"get"}, r.Verbs)
					reads[res] = append(reads[res], r.ResourceNames...)
				}
			}
		}
	}
	assert.Equal(t, map[string][]string{
		"secrets":    {podcred.CloneSecretName},
		"configmaps": {cloneauth.VerificationConfigMapName},
	}, reads)
	assert.NotContains(t, reads["secrets"], cloneauth.SigningSecretName)
}

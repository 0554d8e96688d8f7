package config

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// docs splits a manifest file into its documents.
func docs(t *testing.T, file string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	return bytes.Split(b, []byte("\n---"))
}

// kindOf is a document's kind and name.
func kindOf(t *testing.T, doc []byte) (kind, name string) {
	t.Helper()
	var o object
	require.NoError(t, yaml.Unmarshal(doc, &o))
	return o.Kind, o.Metadata.Name
}

// TestUploadProxyService: the 2018 post's https://NODE:31001, on the one
// node port of the Service (cdictl takes the first), to the port the
// proxy serves, with HTTPS probes; the pod meets the restricted level.
func TestUploadProxyService(t *testing.T) {
	var svc corev1.Service
	var dep appsv1.Deployment
	var secret bool
	for _, d := range docs(t, "530-uploadproxy.yaml") {
		switch kind, name := kindOf(t, d); {
		case kind == "Service" && name == "cdi-uploadproxy":
			require.NoError(t, yaml.Unmarshal(d, &svc))
		case kind == "Deployment":
			require.NoError(t, yaml.Unmarshal(d, &dep))
		case kind == "Secret" && name == "cdi-uploadproxy-tls":
			secret = true
		}
	}
	assert.True(t, secret, "the serving certificate's Secret is shipped (the proxy may not create Secrets)")
	assert.Equal(t, corev1.ServiceTypeNodePort, svc.Spec.Type)
	require.Len(t, svc.Spec.Ports, 1, "metrics are not on a node port")
	p := svc.Spec.Ports[0]
	assert.EqualValues(t, 31001, p.NodePort)
	assert.EqualValues(t, 443, p.Port)
	assert.Equal(t, dep.Spec.Template.Labels, svc.Spec.Selector)

	spec := dep.Spec.Template.Spec
	assert.Equal(t, "cdi-uploadproxy", spec.ServiceAccountName)
	c := spec.Containers[0]
	assert.Equal(t, "ko://github.com/cdi-functions/cdi-functions/uploadproxy", c.Image)
	var port int32
	for _, cp := range c.Ports {
		if cp.Name == p.TargetPort.StrVal {
			port = cp.ContainerPort
		}
	}
	assert.EqualValues(t, 8443, port, "the Service's target is the container's https port")
	for _, e := range c.Env {
		if e.Name == "PORT" {
			assert.Equal(t, "8443", e.Value)
		}
	}
	for name, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		require.NotNil(t, probe, name)
		assert.Equal(t, corev1.URISchemeHTTPS, probe.HTTPGet.Scheme, name)
		assert.Equal(t, intstr.FromString("https"), probe.HTTPGet.Port, name)
	}

	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	require.NoError(t, err)
	for _, r := range eval.EvaluatePod(psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}, &dep.Spec.Template.ObjectMeta, &spec) {
		assert.True(t, r.Allowed, "restricted: %s: %s", r.ForbiddenReason, r.ForbiddenDetail)
	}
}

// TestUploadProxyRBAC: no Secret in users' namespaces; in cdi, three
// Secrets by name, and no create.
func TestUploadProxyRBAC(t *testing.T) {
	for _, d := range docs(t, "205-uploadproxy-rbac.yaml") {
		kind, _ := kindOf(t, d)
		if kind != "ClusterRole" && kind != "Role" {
			continue
		}
		var role rbacv1.Role // a ClusterRole has the same rules
		require.NoError(t, yaml.Unmarshal(d, &role))
		for _, r := range role.Rules {
			for _, res := range r.Resources {
				if kind == "ClusterRole" {
					assert.Contains(t, []string{"persistentvolumeclaims", "pods"}, res)
					assert.Subset(t, []string{"get", "list", "watch"}, r.Verbs, "read only")
					continue
				}
				assert.Equal(t, "secrets", res)
				assert.NotEmpty(t, r.ResourceNames, "every Secret rule names its Secrets")
				assert.NotContains(t, r.Verbs, "create")
				assert.Subset(t, []string{podcred.SecretName, uploadtoken.SecretName, "cdi-uploadproxy-tls"}, r.ResourceNames)
			}
		}
	}
}

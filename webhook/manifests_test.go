package main

import (
	"bytes"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

// docs splits a manifest file into its documents.
func docs(t *testing.T, file string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	return bytes.Split(b, []byte("\n---"))
}

// TestManifestsMatchTheProgram: config/ names what this program expects
// (the Service, its port, the certificate Secret, the configuration and
// its path, the annotations the matchConditions select on).
func TestManifestsMatchTheProgram(t *testing.T) {
	var dep appsv1.Deployment
	var svc corev1.Service
	var secret corev1.Secret
	for _, d := range docs(t, "../config/550-webhook.yaml") {
		var meta struct{ Kind string }
		require.NoError(t, yaml.Unmarshal(d, &meta))
		switch meta.Kind {
		case "Deployment":
			require.NoError(t, yaml.UnmarshalStrict(d, &dep))
		case "Service":
			require.NoError(t, yaml.UnmarshalStrict(d, &svc))
		case "Secret":
			require.NoError(t, yaml.UnmarshalStrict(d, &secret))
		}
	}
	assert.Equal(t, component, dep.Name)
	assert.Equal(t, serviceName, svc.Name)
	assert.Equal(t, certSecretName, secret.Name)
	env := map[string]string{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	assert.Equal(t, strconv.Itoa(defaultPort), env["WEBHOOK_PORT"])
	assert.Equal(t, certSecretName, env["WEBHOOK_SECRET_NAME"])
	assert.Contains(t, env, "SYSTEM_NAMESPACE")
	assert.Equal(t, int32(443), svc.Spec.Ports[0].Port)
	assert.Equal(t, "https", svc.Spec.Ports[0].TargetPort.String())

	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	require.NoError(t, yaml.UnmarshalStrict(docs(t, "../config/560-clone-webhook.yaml")[0], &mwc))
	assert.Equal(t, configurationName, mwc.Name)
	require.Len(t, mwc.Webhooks, 1)
	wh := mwc.Webhooks[0]
	assert.Equal(t, serviceName, wh.ClientConfig.Service.Name)
	assert.Equal(t, clonePath, *wh.ClientConfig.Service.Path)
	assert.Equal(t, admissionregistrationv1.Fail, *wh.FailurePolicy)
	assert.Equal(t, admissionregistrationv1.SideEffectClassNone, *wh.SideEffects)
	require.Len(t, wh.MatchConditions, 1)
	for _, a := range []string{annotations.CloneRequest, annotations.CloneAuthorization} {
		assert.Contains(t, wh.MatchConditions[0].Expression, "'"+a+"' in object.metadata.annotations")
		assert.Contains(t, wh.MatchConditions[0].Expression, "'"+a+"' in oldObject.metadata.annotations")
	}
}

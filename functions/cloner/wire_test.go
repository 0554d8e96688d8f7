package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/cdi-functions/cdi-functions/internal/functest"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
)

func TestNewHandler(t *testing.T) {
	kube := fake.NewClientset()
	env := func(vars map[string]string) function.Env {
		return function.Env{Name: "cloner", Kube: kube, Namespace: "cdi",
			Getenv: func(k string) string { return vars[k] }, Meter: functest.NewMeter()}
	}
	h, err := newHandler(context.Background(), env(map[string]string{"DATAMOVER_IMAGE": "img"}))
	require.NoError(t, err)
	assert.NotNil(t, h)
	_, err = kube.CoreV1().Secrets("cdi").Get(context.Background(), podcred.CloneSecretName, metav1.GetOptions{})
	assert.NoError(t, err, "the clone authority is created once, at start")

	_, err = newHandler(context.Background(), env(nil))
	assert.ErrorContains(t, err, "DATAMOVER_IMAGE")
}

// TestVerifierWithoutGrant: a claim without the webhook's annotation is
// not authorized, whatever the keys.
func TestVerifierWithoutGrant(t *testing.T) {
	err := verifier(fake.NewClientset(), "cdi")(context.Background(), cloneClaim("target"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not admitted by the clone webhook")
	assert.NotErrorIs(t, err, errNoVerificationKey)
}

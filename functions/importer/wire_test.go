package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/cdi-functions/cdi-functions/internal/functest"
	"github.com/cdi-functions/cdi-functions/pkg/function"
)

func TestNewHandler(t *testing.T) {
	env := func(vars map[string]string) function.Env {
		return function.Env{Name: "importer", Kube: fake.NewClientset(), Namespace: "cdi",
			Getenv: func(k string) string { return vars[k] }, Meter: functest.NewMeter()}
	}
	h, err := newHandler(context.Background(), env(map[string]string{"DATAMOVER_IMAGE": "img"}))
	require.NoError(t, err)
	assert.NotNil(t, h)

	_, err = newHandler(context.Background(), env(nil))
	assert.ErrorContains(t, err, "DATAMOVER_IMAGE")
}

package function

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

func TestSetRateLimits(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg := &rest.Config{}
	require.NoError(t, setRateLimits(cfg, env(nil)))
	assert.Equal(t, float32(defaultQPS), cfg.QPS)
	assert.Equal(t, defaultBurst, cfg.Burst)
	require.NoError(t, setRateLimits(cfg, env(map[string]string{"KUBE_API_QPS": "7.5", "KUBE_API_BURST": "9"})))
	assert.Equal(t, float32(7.5), cfg.QPS)
	assert.Equal(t, 9, cfg.Burst)
	assert.ErrorContains(t, setRateLimits(cfg, env(map[string]string{"KUBE_API_QPS": "-1"})), "KUBE_API_QPS")
	assert.ErrorContains(t, setRateLimits(cfg, env(map[string]string{"KUBE_API_BURST": "x"})), "KUBE_API_BURST")
}

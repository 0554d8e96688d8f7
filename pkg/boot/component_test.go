package boot

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewLogger(t *testing.T) {
	for _, tt := range []struct {
		level   string
		wantErr bool
	}{{"", false}, {"debug", false}, {"warn", false}, {"loud", true}} {
		l, err := NewLogger("test", tt.level)
		if tt.wantErr {
			assert.ErrorContains(t, err, `log level "loud"`)
			continue
		}
		require.NoError(t, err)
		assert.NotNil(t, l)
	}
}

func TestRestConfig(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600))
	cfg, err := RestConfig(kc)
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:6443", cfg.Host)

	_, err = RestConfig(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorContains(t, err, "kubeconfig")
}

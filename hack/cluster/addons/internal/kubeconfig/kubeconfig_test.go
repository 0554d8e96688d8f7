package kubeconfig

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
)

func TestWriteLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.kubeconfig")
	require.NoError(t, Write(path, Config{
		Cluster: "c1", Server: "https://10.244.0.1:6443", User: "admin",
		CA: []byte("ca-pem"), Cert: []byte("cert-pem"), Key: []byte("key-pem"),
	}))
	cfg, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	assert.Equal(t, "c1", cfg.CurrentContext)
	assert.Equal(t, "https://10.244.0.1:6443", cfg.Clusters["c1"].Server)
	assert.Equal(t, []byte("ca-pem"), cfg.Clusters["c1"].CertificateAuthorityData)
	assert.Equal(t, []byte("cert-pem"), cfg.AuthInfos["admin"].ClientCertificateData)
	assert.Equal(t, []byte("key-pem"), cfg.AuthInfos["admin"].ClientKeyData)
	assert.Equal(t, "admin", cfg.Contexts["c1"].AuthInfo)
}

package pki

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIssue(t *testing.T) {
	now := time.Now()
	ca, err := NewAuthority("test-ca", now)
	require.NoError(t, err)
	assert.True(t, ca.Cert.IsCA)

	tests := []struct {
		name  string
		req   Request
		usage x509.ExtKeyUsage
	}{
		{"serving", Request{
			CommonName: "kube-apiserver",
			DNSNames:   []string{"kubernetes.default.svc"},
			IPs:        []net.IP{net.ParseIP("10.244.0.1")},
			Server:     true,
		}, x509.ExtKeyUsageServerAuth},
		{"client", Request{
			CommonName:    "system:node:n1",
			Organizations: []string{"system:nodes"},
		}, x509.ExtKeyUsageClientAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kp, err := ca.Issue(tt.req, now)
			require.NoError(t, err)
			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert)
			opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tt.usage}}
			if tt.req.Server {
				opts.DNSName = tt.req.DNSNames[0]
			}
			_, err = kp.Cert.Verify(opts)
			require.NoError(t, err)
			assert.Equal(t, tt.req.CommonName, kp.Cert.Subject.CommonName)
			assert.Equal(t, tt.req.Organizations, kp.Cert.Subject.Organization)
			if tt.req.Server {
				require.NoError(t, kp.Cert.VerifyHostname("10.244.0.1"))
			}
			assert.True(t, kp.Cert.NotAfter.After(now.Add(365*24*time.Hour)))
		})
	}
}

func TestWriteFiles(t *testing.T) {
	ca, err := NewAuthority("test-ca", time.Now())
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, ca.WriteFiles(dir, "ca"))

	crt, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	require.NoError(t, err)
	block, _ := pem.Decode(crt)
	require.NotNil(t, block)
	assert.Equal(t, "CERTIFICATE", block.Type)

	fi, err := os.Stat(filepath.Join(dir, "ca.key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	key, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	require.NoError(t, err)
	block, _ = pem.Decode(key)
	require.NotNil(t, block)
	parsed, err := x509.ParseECPrivateKey(block.Bytes)
	require.NoError(t, err)
	assert.True(t, parsed.Equal(ca.Key))

	pub, err := PublicKeyPEM(ca.Key)
	require.NoError(t, err)
	block, _ = pem.Decode(pub)
	require.NotNil(t, block)
	assert.Equal(t, "PUBLIC KEY", block.Type)
}

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testCA is a CA for tests that issues client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key}
}

// pem is the CA certificate in PEM.
func (ca *testCA) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
}

// client issues a client certificate for cn (server-auth only when
// serverOnly).
func (ca *testCA) client(t *testing.T, cn string, serverOnly bool) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	usage := x509.ExtKeyUsageClientAuth
	if serverOnly {
		usage = x509.ExtKeyUsageServerAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

// withCert makes r look as if it came over TLS with the client
// certificate c (none when c is nil).
func withCert(r *http.Request, c *x509.Certificate) *http.Request {
	r.TLS = &tls.ConnectionState{}
	if c != nil {
		r.TLS.PeerCertificates = []*x509.Certificate{c}
	}
	return r
}

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// authConfigMap is the data of extension-apiserver-authentication as the
// local cluster's kube-apiserver publishes it.
func authConfigMap(ca *testCA) map[string]string {
	return map[string]string{
		"client-ca-file":             "unused",
		keyRequestHeaderCA:           ca.pem(),
		keyRequestHeaderAllowedNames: `["front-proxy-client"]`,
		keyRequestHeaderUser:         `["X-Remote-User"]`,
		keyRequestHeaderGroup:        `["X-Remote-Group"]`,
		keyRequestHeaderExtraPrefix:  `["X-Remote-Extra-"]`,
	}
}

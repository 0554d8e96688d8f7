package main

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServingCertificate(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	name := serviceDNSName("cdi-tokenapi", "cdi")
	data, err := newCertData(ctx, "cdi-tokenapi", "cdi", nil, now)
	require.NoError(t, err)

	assert.Empty(t, renewReason(data, name, now), "a new certificate stays")
	assert.Empty(t, renewReason(data, name, now.Add(certValidity-certRenewBefore-time.Hour)))
	assert.Contains(t, renewReason(data, name, now.Add(certValidity-certRenewBefore+time.Hour)), "expires in")
	assert.Contains(t, renewReason(data, "cdi-tokenapi.other.svc", now), "not issued for")
	assert.Equal(t, "no usable certificate and key", renewReason(nil, name, now))

	// A renewal keeps the previous CA in the bundle: a replica still
	// serving the old certificate stays trusted.
	renewed, err := newCertData(ctx, "cdi-tokenapi", "cdi", data[caBundleKey], now)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(renewed[caBundleKey]))
	for _, d := range []map[string][]byte{data, renewed} {
		c, err := firstCert(d[serverCertKey])
		require.NoError(t, err)
		_, err = c.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now})
		assert.NoError(t, err)
	}
	// and only the previous one: a second renewal drops the first CA.
	again, err := newCertData(ctx, "cdi-tokenapi", "cdi", renewed[caBundleKey], now)
	require.NoError(t, err)
	roots = x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(again[caBundleKey]))
	c, err := firstCert(data[serverCertKey])
	require.NoError(t, err)
	_, err = c.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now})
	assert.Error(t, err)

	// A certificate another CA signed is replaced.
	mixed := map[string][]byte{caBundleKey: again[caBundleKey], serverCertKey: data[serverCertKey], serverKeyKey: data[serverKeyKey]}
	assert.Equal(t, "not signed by the CA bundle", renewReason(mixed, name, now))
}

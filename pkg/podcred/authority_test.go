package podcred

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// serve starts an HTTPS server with cred's certificate.
func serve(t *testing.T, cred PodCredential) string {
	t.Helper()
	cert, err := tls.X509KeyPair(cred.CertPEM, cred.KeyPEM)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// handshake dials addr with cfg and reports the handshake's error.
func handshake(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	return c.Close()
}

func TestIssueAndClient(t *testing.T) {
	a, err := New(time.Now())
	require.NoError(t, err)
	cred, err := a.Issue("uid-a", time.Now())
	require.NoError(t, err)
	addr := serve(t, cred)

	tests := []struct {
		name    string
		cfg     *tls.Config
		wantErr bool
	}{
		{"the claim's own pod", a.Client("uid-a"), false},
		{"another claim's pod", a.Client("uid-b"), true},
		{"another authority", mustNew(t).Client("uid-a"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := handshake(addr, tt.cfg)
			if tt.wantErr {
				assert.Error(t, err)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

func mustNew(t *testing.T) *Authority {
	t.Helper()
	a, err := New(now)
	require.NoError(t, err)
	return a
}

func TestCredential(t *testing.T) {
	a, b := mustNew(t), mustNew(t)
	assert.Equal(t, a.Credential("uid-a"), a.Credential("uid-a"), "derived, so the proxy computes what the uploader stored")
	assert.NotEqual(t, a.Credential("uid-a"), a.Credential("uid-b"), "unique to the claim")
	assert.NotEqual(t, a.Credential("uid-a"), b.Credential("uid-a"), "unique to the authority")
	assert.GreaterOrEqual(t, len(a.Credential("x")), 32)

	cred, err := a.Issue("uid-a", now)
	require.NoError(t, err)
	assert.Equal(t, a.Credential("uid-a"), cred.Bearer)
}

func TestSecretRoundTrip(t *testing.T) {
	a := mustNew(t)
	data, err := a.SecretData()
	require.NoError(t, err)
	back, err := Parse(data)
	require.NoError(t, err)
	assert.Equal(t, a.Credential("u"), back.Credential("u"))
	_, err = back.Issue("u", now)
	assert.NoError(t, err)

	// Without the CA key: checks, but cannot issue.
	delete(data, KeyCAKey)
	check, err := Parse(data)
	require.NoError(t, err)
	assert.Equal(t, a.Credential("u"), check.Credential("u"))
	_, err = check.Issue("u", now)
	assert.ErrorContains(t, err, "cannot issue")
	_, err = check.SecretData()
	assert.Error(t, err)
}

func TestParseRefuses(t *testing.T) {
	a, b := mustNew(t), mustNew(t)
	good, err := a.SecretData()
	require.NoError(t, err)
	other, err := b.SecretData()
	require.NoError(t, err)
	with := func(k string, v []byte) map[string][]byte {
		d := map[string][]byte{}
		for kk, vv := range good {
			d[kk] = vv
		}
		if v == nil {
			delete(d, k)
		} else {
			d[k] = v
		}
		return d
	}
	tests := []struct {
		name string
		data map[string][]byte
		want string
	}{
		{"no certificate", with(KeyCACert, nil), KeyCACert},
		{"garbage certificate", with(KeyCACert, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")), KeyCACert},
		{"short MAC key", with(KeyMAC, []byte("short")), KeyMAC},
		{"key of another authority", with(KeyCAKey, other[KeyCAKey]), "not the key"},
		{"garbage key", with(KeyCAKey, []byte("nope")), KeyCAKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.data)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestIssueRefusesEmptyUID(t *testing.T) {
	_, err := mustNew(t).Issue("", now)
	assert.Error(t, err)
}

func TestServerName(t *testing.T) {
	assert.Equal(t, "0b7a-11.upload.cdi-functions.invalid", ServerName("0b7a-11"))
}

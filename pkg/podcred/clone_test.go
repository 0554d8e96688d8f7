package podcred

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIssueClone(t *testing.T) {
	a := mustNew(t)
	cred, err := a.IssueClone("uid-t", time.Now())
	require.NoError(t, err)
	addr := serve(t, cred)

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(a.CACertPEM()))
	tests := []struct {
		name    string
		cfg     *tls.Config
		wantErr bool
	}{
		{"the clone's own target", a.CloneClient("uid-t"), false},
		{"from the CA file the source pod gets", &tls.Config{RootCAs: pool, ServerName: CloneServerName("uid-t"), MinVersion: tls.VersionTLS13}, false},
		{"another clone's target", a.CloneClient("uid-u"), true},
		{"the upload pod of the same claim", a.Client("uid-t"), true},
		{"another authority", mustNew(t).CloneClient("uid-t"), true},
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

func TestCloneCredential(t *testing.T) {
	a := mustNew(t)
	assert.Equal(t, a.CloneCredential("u"), a.CloneCredential("u"))
	assert.NotEqual(t, a.CloneCredential("u"), a.CloneCredential("v"), "unique to the clone")
	assert.NotEqual(t, a.CloneCredential("u"), a.Credential("u"), "never an upload pod's credential")
	cred, err := a.IssueClone("u", now)
	require.NoError(t, err)
	assert.Equal(t, a.CloneCredential("u"), cred.Bearer)
	_, err = a.IssueClone("", now)
	assert.Error(t, err)
	assert.Equal(t, "x.clone.cdi-functions.invalid", CloneServerName("x"))
}

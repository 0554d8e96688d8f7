package main

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
)

func TestAuthenticate(t *testing.T) {
	proxyCA := newTestCA(t, "front-proxy-ca")
	clusterCA := newTestCA(t, "cluster-ca")
	proxy := proxyCA.client(t, "front-proxy-client", false)

	identity := http.Header{
		"X-Remote-User":              {"alice"},
		"X-Remote-Group":             {"team", "system:authenticated"},
		"X-Remote-Extra-Scopes":      {"a", "b"},
		"X-Remote-Extra-Acme.com%2f": {"x"},
	}
	tests := []struct {
		name    string
		cert    *x509.Certificate
		header  http.Header
		want    authenticationv1.UserInfo
		wantErr string
	}{{
		name: "the front proxy with an identity", cert: proxy, header: identity,
		want: authenticationv1.UserInfo{Username: "alice", Groups: []string{"team", "system:authenticated"},
			Extra: map[string]authenticationv1.ExtraValue{"scopes": {"a", "b"}, "acme.com/": {"x"}}},
	}, {
		name: "forged headers without a certificate (the attacker's move)", header: identity,
		wantErr: "no client certificate",
	}, {
		name: "a client certificate of the cluster CA (a user's own) is not the front proxy", cert: clusterCA.client(t, "front-proxy-client", false),
		header: identity, wantErr: "is not the front proxy's",
	}, {
		name: "the front proxy CA but another name", cert: proxyCA.client(t, "someone-else", false),
		header: identity, wantErr: "not an allowed front proxy name",
	}, {
		name: "the front proxy CA but not for client auth", cert: proxyCA.client(t, "front-proxy-client", true),
		header: identity, wantErr: "is not the front proxy's",
	}, {
		name: "the front proxy naming no user", cert: proxy, header: http.Header{"X-Remote-Group": {"system:masters"}},
		wantErr: "named no user",
	}}
	cfg, err := parseFrontProxyConfig(authConfigMap(proxyCA))
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFrontProxy(func() time.Time { return t0 })
			f.set(cfg)
			r := withCert(httptest.NewRequest(http.MethodGet, "/apis", nil), tt.cert)
			r.Header = tt.header
			got, err := f.authenticate(r)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, errUnauthenticated)
				assert.ErrorContains(t, err, tt.wantErr)
				assert.NotContains(t, err.Error(), "alice", "refusals repeat no header")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestAuthenticateBeforeConfig(t *testing.T) {
	ca := newTestCA(t, "front-proxy-ca")
	f := newFrontProxy(func() time.Time { return t0 })
	r := withCert(httptest.NewRequest(http.MethodGet, "/apis", nil), ca.client(t, "front-proxy-client", false))
	r.Header.Set("X-Remote-User", "alice")
	_, err := f.authenticate(r)
	assert.ErrorIs(t, err, errUnauthenticated)
	assert.False(t, f.ready())
}

func TestParseFrontProxyConfig(t *testing.T) {
	ca := newTestCA(t, "front-proxy-ca")
	tests := []struct {
		name    string
		edit    func(map[string]string)
		wantErr string
	}{
		{name: "as the kube-apiserver publishes it", edit: func(map[string]string) {}},
		{name: "no aggregation layer", edit: func(d map[string]string) { delete(d, keyRequestHeaderCA) }, wantErr: "aggregation layer is not configured"},
		{name: "no PEM", edit: func(d map[string]string) { d[keyRequestHeaderCA] = "junk" }, wantErr: "no PEM certificate"},
		{name: "no user header", edit: func(d map[string]string) { d[keyRequestHeaderUser] = `[]` }, wantErr: "no header names the user"},
		{name: "not a JSON list", edit: func(d map[string]string) { d[keyRequestHeaderGroup] = `X-Remote-Group` }, wantErr: "JSON list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := authConfigMap(ca)
			tt.edit(d)
			cfg, err := parseFrontProxyConfig(d)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []string{"front-proxy-client"}, cfg.AllowedNames)
			assert.Equal(t, []string{"X-Remote-User"}, cfg.UserHeaders)
			assert.Equal(t, []string{"X-Remote-Group"}, cfg.GroupHeaders)
			assert.Equal(t, []string{"X-Remote-Extra-"}, cfg.ExtraPrefixes)
		})
	}
}

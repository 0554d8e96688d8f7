package uploadproxy

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBackendTLS: the proxy connects to an upload pod only with exactly the
// Locator's TLS configuration: the pod's CA and the name bound to its
// claim. Nothing reaches a pod that cannot prove it is that claim's.
func TestBackendTLS(t *testing.T) {
	tests := []struct {
		name    string
		backend func(p *pod) Backend
		want    int
	}{
		{name: "the pod's CA and name", backend: (*pod).backend, want: http.StatusOK},
		{name: "another claim's name", backend: func(p *pod) Backend {
			be := p.backend()
			be.TLS = p.ca.client("uid-2.upload.test.invalid")
			return be
		}, want: http.StatusServiceUnavailable},
		{name: "another CA", backend: func(p *pod) Backend {
			be := p.backend()
			be.TLS = newTestCA(t).client(podName)
			return be
		}, want: http.StatusServiceUnavailable},
		{name: "no TLS configuration", backend: func(p *pod) Backend {
			be := p.backend()
			be.TLS = nil
			return be
		}, want: http.StatusBadGateway},
		{name: "plain http", backend: func(p *pod) Backend {
			be := p.backend()
			be.URL = strings.Replace(be.URL, "https://", "http://", 1)
			return be
		}, want: http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPod(t, http.StatusOK)
			h, ks := setup(t, &locator{backend: tt.backend(p)})
			w := do(h, http.MethodPost, "/v1alpha1/upload", sign(t, ks, scope, t0), strings.NewReader("bytes"), nil)
			assert.Equal(t, tt.want, w.Code, w.Body.String())
			if tt.want != http.StatusOK {
				assert.Nil(t, p.got, "nothing reached the pod")
			}
		})
	}
}

// TestTransportsReusedAndBounded: one transport per pod (URL and server
// name), reused, at most MaxTransports kept.
func TestTransportsReusedAndBounded(t *testing.T) {
	ca := newTestCA(t)
	ts := &transports{max: 2}
	be := func(host, name string) Backend {
		return Backend{URL: "https://" + host + ":8443", TLS: ca.client(name)}
	}
	a, err := ts.get(be("10.0.0.1", "a"), nil)
	require.NoError(t, err)
	again, err := ts.get(be("10.0.0.1", "a"), nil)
	require.NoError(t, err)
	assert.Same(t, a, again)
	assert.Equal(t, "a", a.TLSClientConfig.ServerName)
	assert.Zero(t, a.ResponseHeaderTimeout, "no bound on a long upload")
	assert.Nil(t, a.Proxy)

	other, err := ts.get(be("10.0.0.1", "b"), nil)
	require.NoError(t, err)
	assert.NotSame(t, a, other, "another claim's name is another transport")
	for i := range 5 {
		_, err := ts.get(be(fmt.Sprintf("10.0.1.%d", i), "c"), nil)
		require.NoError(t, err)
	}
	assert.Equal(t, 2, ts.len())

	ts.forget(be("10.0.1.4", "c"))
	assert.Equal(t, 1, ts.len())
}

// TestTransportTemplate: the template's settings are kept, its TLS
// configuration and response timeout are not.
func TestTransportTemplate(t *testing.T) {
	ca := newTestCA(t)
	tmpl := &http.Transport{MaxIdleConnsPerHost: 7, ResponseHeaderTimeout: 1, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	rt := newTransport(tmpl, ca.client("x"))
	assert.Equal(t, 7, rt.MaxIdleConnsPerHost)
	assert.Zero(t, rt.ResponseHeaderTimeout)
	assert.False(t, rt.TLSClientConfig.InsecureSkipVerify)
	assert.Equal(t, "x", rt.TLSClientConfig.ServerName)
}

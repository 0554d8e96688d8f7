package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	corev1listers "k8s.io/client-go/listers/core/v1"

	"github.com/cdi-functions/cdi-functions/internal/kubetest"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// proxyWith is the front of a proxy with keys and a Locator over the
// cached objs (no API server objects: a test fails on any API call it
// did not expect).
func proxyWith(t *testing.T, keys *uploadtoken.Keys, kube *fake.Clientset, objs ...runtime.Object) *front {
	t.Helper()
	a, err := podcred.New(time.Now())
	require.NoError(t, err)
	loc := &Locator{
		Claims: corev1listers.NewPersistentVolumeClaimLister(indexer(t, objs...)),
		Pods:   corev1listers.NewPodLister(indexer(t)),
		Kube:   kube, Authority: func() *podcred.Authority { return a },
	}
	f := &front{ready: func() error { return nil }}
	f.handler.Store(&uploadproxy.Handler{Keys: keys, Locator: loc, Wait: 300 * time.Millisecond, Poll: 50 * time.Millisecond})
	return f
}

func upload(t *testing.T, client *http.Client, url, token, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1alpha1/upload", strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestUploadThroughTheProxy: what the cluster check does, over TLS with
// the proxy's own certificate.
func TestUploadThroughTheProxy(t *testing.T) {
	keys, err := uploadtoken.ParseKeys(newKeysData(t))
	require.NoError(t, err)
	foreign, err := uploadtoken.ParseKeys(newKeysData(t))
	require.NoError(t, err)
	claim := uploadClaim()
	token, err := keys.Sign(scopeOf(claim), time.Now())
	require.NoError(t, err)
	forged, err := foreign.Sign(scopeOf(claim), time.Now())
	require.NoError(t, err)

	kube := fake.NewClientset()
	ctx, cancel := context.WithCancel(testContext())
	defer cancel()
	f := proxyWith(t, keys, kube, claim)
	url, client, _ := serveHandler(t, ctx, f, f, time.Second)

	for _, tok := range []string{"", "garbage", forged} {
		resp, _ := upload(t, client, url, tok, "image")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "token %q", tok)
	}

	start := time.Now()
	resp, msg := upload(t, client, url, token, "image")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, msg)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "after the wait for the pod")
	kubetest.Expect(t, kube) // everything came from the caches

	h2 := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // curl --insecure
	resp, err = h2.Get(url + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 1, resp.ProtoMajor, "HTTP/1.1 only, even to a client that offers h2")

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := client.Get(url + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
	}
}

func TestProbes(t *testing.T) {
	keys, err := uploadtoken.ParseKeys(newKeysData(t))
	require.NoError(t, err)
	tests := []struct {
		name       string
		handler    bool
		ready      error
		draining   bool
		wantReady  int
		wantUpload int
	}{
		{name: "ready", handler: true, wantReady: 200, wantUpload: 401},
		{name: "no keys yet", wantReady: 503, wantUpload: 503},
		{name: "no authority yet", handler: true, ready: errors.New("waiting for the Secret"), wantReady: 503, wantUpload: 401},
		{name: "draining", handler: true, draining: true, wantReady: 503, wantUpload: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &front{ready: func() error { return tt.ready }}
			if tt.handler {
				f.handler.Store(&uploadproxy.Handler{Keys: keys})
			}
			f.draining.Store(tt.draining)
			assert.Equal(t, 200, status(f, http.MethodGet, "/healthz"), "alive whatever else")
			assert.Equal(t, tt.wantReady, status(f, http.MethodGet, "/readyz"))
			assert.Equal(t, tt.wantUpload, status(f, http.MethodPost, "/v1alpha1/upload"))
		})
	}
}

// serveHandler serves h as the program does, with f's draining state;
// it returns the address, an insecure client (curl --insecure) and the
// result of serve.
func serveHandler(t *testing.T, ctx context.Context, h http.Handler, f *front, timeout time.Duration) (string, *http.Client, <-chan error) {
	t.Helper()
	certs := &certSource{kube: fake.NewClientset(), namespace: "cdi", now: time.Now}
	require.NoError(t, certs.sync(testContext()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, newServer(testContext(), h, certs), ln, f, 100*time.Millisecond, timeout) }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // curl --insecure
	return "https://" + ln.Addr().String(), client, done
}

// TestShutdownLetsUploadsFinish: after SIGTERM readiness fails at once, a
// running upload goes on to its end within the timeout, then serve ends.
func TestShutdownLetsUploadsFinish(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = fmt.Fprintf(w, "%d", n)
	})
	f := &front{ready: func() error { return nil }}
	ctx, cancel := context.WithCancel(testContext())
	defer cancel()
	url, client, done := serveHandler(t, ctx, h, f, 5*time.Second)
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := client.Post(url+"/v1alpha1/upload", "application/octet-stream", strings.NewReader("image"))
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	<-started
	cancel()
	assert.Eventually(t, f.draining.Load, time.Second, 10*time.Millisecond, "readiness fails at once")
	time.Sleep(300 * time.Millisecond) // past the drain delay: waiting for the upload
	select {
	case err := <-done:
		t.Fatalf("serve ended with an upload running: %v", err)
	default:
	}
	close(release)
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, "5", r.body)
	assert.NoError(t, <-done)
}

// TestShutdownTimeoutClosesUploads: an upload still running at the
// timeout is cut, and serve ends.
func TestShutdownTimeoutClosesUploads(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(testContext())
	defer cancel()
	url, client, done := serveHandler(t, ctx, h, &front{ready: func() error { return nil }}, 200*time.Millisecond)
	errc := make(chan error, 1)
	go func() {
		resp, err := client.Post(url+"/v1alpha1/upload", "application/octet-stream", strings.NewReader("image"))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not end at the timeout")
	}
	assert.Error(t, <-errc, "the upload was cut")
}

func status(h http.Handler, method, path string) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader("x")))
	return rec.Code
}

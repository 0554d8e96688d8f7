package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy"
	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy/tus"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

var resumeScope = uploadtoken.Scope{Operation: uploadtoken.OperationUpload, Namespace: "vms", Name: "disk", UID: "uid-1"}

// fixedLocator is the Locator of one upload pod.
type fixedLocator struct{ be uploadproxy.Backend }

func (l fixedLocator) Locate(_ context.Context, s uploadtoken.Scope) (uploadproxy.Backend, error) {
	if s != resumeScope {
		return uploadproxy.Backend{}, uploadproxy.ErrNoTarget
	}
	return l.be, nil
}

// proxy runs the real upload proxy handler over loopback TLS on a fixed
// address, and can be killed (every connection cut at once) and replaced
// by a new Handler on the same address, as a restarted proxy pod.
type proxy struct {
	t    testing.TB
	addr string
	keys *uploadtoken.Keys
	loc  uploadproxy.Locator
	cert tls.Certificate

	mu  sync.Mutex
	srv *http.Server
	// serving is closed once the current server listens; a restart
	// replaces it.
	serving chan struct{}
}

func (p *proxy) start() {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(p.t, err)
	p.addr = ln.Addr().String()
	h := &uploadproxy.Handler{Keys: p.keys, Locator: p.loc, Wait: time.Second}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{p.cert}}}
	p.mu.Lock()
	p.srv = srv
	if p.serving == nil {
		p.serving = make(chan struct{})
	}
	close(p.serving)
	p.mu.Unlock()
	go func() { _ = srv.ServeTLS(ln, "", "") }()
}

// restart kills the proxy and starts a new one.
func (p *proxy) restart() {
	p.mu.Lock()
	srv := p.srv
	p.serving = make(chan struct{})
	p.mu.Unlock()
	_ = srv.Close()
	p.start()
}

// waitServing returns once the proxy listens (at once unless it is being
// restarted), or when ctx ends: the client's wait between attempts.
func (p *proxy) waitServing(ctx context.Context) error {
	p.mu.Lock()
	ch := p.serving
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cutter fails a request body once, after at bytes: a dropped client
// connection.
type cutter struct {
	r    io.Reader
	left int64
}

func (c *cutter) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("cut")
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// cuttingTransport cuts the first PATCH body at cut1 bytes; at cut2 bytes
// into the upload it kills the proxy. It records where each PATCH started
// and where the pod said it stood before.
type cuttingTransport struct {
	rt         http.RoundTripper
	cut1, cut2 int64
	kill       func()
	arrived    <-chan struct{}

	mu      sync.Mutex
	cuts    int
	known   int64 // the pod's last reported offset (-1: none yet)
	patches []resumeStep
}

// resumeStep is one PATCH: the offset it started at and the pod's last
// reported offset before it.
type resumeStep struct{ from, known int64 }

func (c *cuttingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPatch {
		off, _ := tus.ParseOffset(r.Header.Get(tus.HeaderOffset))
		c.mu.Lock()
		n := c.cuts
		c.cuts++
		c.patches = append(c.patches, resumeStep{from: off, known: c.known})
		c.mu.Unlock()
		switch n {
		case 0:
			r.Body = io.NopCloser(&cutter{r: r.Body, left: c.cut1 - off})
		case 1:
			r.Body = io.NopCloser(&killer{r: r.Body, left: c.cut2 - off, kill: c.kill, arrived: c.arrived})
		}
	}
	resp, err := c.rt.RoundTrip(r)
	if err == nil {
		if off, perr := tus.ParseOffset(resp.Header.Get(tus.HeaderOffset)); perr == nil {
			c.mu.Lock()
			c.known = off
			c.mu.Unlock()
		}
	}
	return resp, err
}

// killer calls kill once left bytes were read and the pod received them
// (arrived is closed), then fails. When the pod refuses its PATCH (under
// load, while it still holds the cut one), a later PATCH brings the bytes
// up to arrived, and the proxy is killed under that one.
type killer struct {
	r       io.Reader
	left    int64
	kill    func()
	arrived <-chan struct{}
}

func (k *killer) Read(p []byte) (int, error) {
	if k.left <= 0 {
		if k.kill != nil {
			<-k.arrived
			k.kill()
			k.kill = nil
		}
		return 0, errors.New("the proxy went away")
	}
	if int64(len(p)) > k.left {
		p = p[:k.left]
	}
	n, err := k.r.Read(p)
	k.left -= int64(n)
	return n, err
}

// TestResumableUploadThroughTheProxy: the real receiver behind the real
// upload proxy over loopback TLS; the upload loses its connection once and
// sees the proxy killed and replaced once, resumes each time from what the
// pod stored (never from 0 again, never beyond), and the claim ends
// byte-exact. How much was resent depends on the bytes in flight at each
// cut (the sockets' buffers, more under load): logged, not asserted.
func TestResumableUploadThroughTheProxy(t *testing.T) {
	fx := makeFixtures(t)
	for _, name := range []string{"disk.qcow2", "disk.raw.xz"} {
		t.Run(name, func(t *testing.T) {
			image := fx.file(t, name)
			size := int64(len(image))
			ts, rc, dir := newTLSReceiver(t, "64Mi")
			pool := x509.NewCertPool()
			pool.AddCert(ts.Certificate())
			be := uploadproxy.Backend{URL: ts.URL, Credential: testCredential,
				TLS: &tls.Config{RootCAs: pool, ServerName: "example.com"}}

			data, err := uploadtoken.NewSecretData()
			require.NoError(t, err)
			keys, err := uploadtoken.ParseKeys(data)
			require.NoError(t, err)
			p := &proxy{t: t, addr: "127.0.0.1:0", keys: keys, loc: fixedLocator{be: be}, cert: ts.TLS.Certificates[0]}
			p.start()
			t.Cleanup(func() { p.mu.Lock(); _ = p.srv.Close(); p.mu.Unlock() })

			// The proxy is killed once the pod received the bytes up to cut2
			// (else the bytes in the sockets' buffers die with it).
			arrived := make(chan struct{})
			rc.progress = &watch{at: 2 * size / 3, reached: arrived}
			ct := &cuttingTransport{rt: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"}},
				cut1: size / 3, cut2: 2 * size / 3, kill: p.restart, arrived: arrived, known: -1}
			tokens := 0
			lastStored := int64(-1)
			c := &tus.Client{
				HTTP:     &http.Client{Transport: ct},
				Endpoint: "https://" + p.addr + "/v1beta1/upload-tus",
				Token: func(context.Context, bool) (string, error) {
					tokens++
					return keys.Sign(resumeScope, time.Now())
				},
				// Between attempts the client waits only for the proxy to
				// listen again (a restart by a stale killer may be under way).
				Sleep: func(ctx context.Context, _ int) error { return p.waitServing(ctx) },
				Progress: func(stored, sent int64) {
					if stored != lastStored {
						t.Logf("stored %d sent %d", stored, sent)
						lastStored = stored
					}
				},
			}
			res, err := c.Upload(context.Background(), bytes.NewReader(image), size)
			require.NoError(t, err, "%+v", res)
			assert.Equal(t, tus.StateSucceeded, res.State, res.Message)
			assert.GreaterOrEqual(t, res.Resumed, 2, "resumed after each cut")
			ct.mu.Lock()
			patches := ct.patches
			ct.mu.Unlock()
			require.GreaterOrEqual(t, len(patches), 3)
			for i, p := range patches {
				assert.Equal(t, p.known, p.from, "PATCH %d starts where the pod said it stood", i)
			}
			assert.Positive(t, patches[len(patches)-1].from, "the last PATCH resumed")
			t.Logf("%s: %d bytes, %d sent (%.1f%% overhead), %d resumes", name, size, res.Sent,
				100*float64(res.Sent-size)/float64(size), res.Resumed)

			got, err := os.ReadFile(filepath.Join(dir, "disk.img"))
			require.NoError(t, err)
			want := fx.want(t, name)
			require.True(t, bytes.Equal(want, got[:len(want)]), "disk.img differs from qemu-img convert of the source")
			assert.True(t, allZero(got[len(want):]))
			<-rc.done
		})
	}
}

// watch closes reached when the bytes received reach at.
type watch struct {
	at      int64
	once    sync.Once
	reached chan struct{}
}

func (w *watch) Report(u progress.Update) {
	if u.Phase == progress.PhaseSpooling && u.Done >= w.at {
		w.once.Do(func() { close(w.reached) })
	}
}

// newTLSReceiver is newTestReceiver over TLS (the test server's
// certificate, for example.com), with the claim's UID as upload id.
func newTLSReceiver(t testing.TB, size string) (*httptest.Server, *receiver, string) {
	t.Helper()
	dir := t.TempDir()
	credFile := filepath.Join(t.TempDir(), "credential")
	require.NoError(t, os.WriteFile(credFile, []byte(testCredential+"\n"), 0o600))
	f := receiveFlags{target: dir, size: size, scratch: t.TempDir(), credentialFile: credFile}
	srv, rc, err := f.server(io.Discard)
	require.NoError(t, err)
	rc.id = resumeScope.UID
	ts := httptest.NewTLSServer(srv.Handler)
	t.Cleanup(ts.Close)
	return ts, rc, dir
}

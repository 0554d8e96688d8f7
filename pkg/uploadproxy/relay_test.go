package uploadproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy/tus"
)

// stalled is a request body that sends head and then blocks until ctx
// ends: a client that stops sending in the middle of its body.
type stalled struct {
	ctx  context.Context
	head io.Reader
}

func (s *stalled) Read(p []byte) (int, error) {
	if n, err := s.head.Read(p); err != io.EOF {
		return n, err
	}
	<-s.ctx.Done()
	return 0, io.ErrUnexpectedEOF
}

// TestAnswersWhileTheClientStalls: when the pod refuses a request before
// reading its body, the proxy relays the refusal at once, though the
// client stopped sending in the middle of its body (before, the proxy's
// server could not answer until the client sent again).
func TestAnswersWhileTheClientStalls(t *testing.T) {
	tests := []struct {
		name, method, path string
		header             http.Header
		podPath            string
		code               int
	}{
		{name: "upload", method: http.MethodPost, path: "/v1alpha1/upload", podPath: "/upload", code: http.StatusServiceUnavailable},
		{name: "tus patch", method: http.MethodPatch, path: "/v1beta1/upload-tus/uid-1", podPath: podTusPath + "/uid-1",
			header: http.Header{tus.HeaderResumable: {tus.Version}, tus.HeaderOffset: {"0"},
				"Content-Type": {tus.ContentType}},
			code: http.StatusConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca := newTestCA(t)
			podSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, tc.podPath, r.URL.Path)
				w.Header().Set("Connection", "close")
				http.Error(w, "refused before the body", tc.code)
			}))
			podSrv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serving(t, podName)}}
			podSrv.StartTLS()
			t.Cleanup(podSrv.Close)
			be := Backend{URL: podSrv.URL, Credential: podCredential, TLS: ca.client(podName)}

			h, ks := setup(t, &locator{backend: be})
			h.Now = time.Now
			proxySrv := httptest.NewTLSServer(h)
			t.Cleanup(proxySrv.Close)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			body := &stalled{ctx: ctx, head: bytes.NewReader(make([]byte, 256<<10))}
			req, err := http.NewRequestWithContext(ctx, tc.method, proxySrv.URL+tc.path, body)
			require.NoError(t, err)
			req.ContentLength = 1 << 20
			for k, v := range tc.header {
				req.Header[k] = v
			}
			req.Header.Set("Authorization", "Bearer "+sign(t, ks, scope, time.Now()))
			resp, err := proxySrv.Client().Do(req)
			require.NoError(t, err, "the refusal reaches the client while its body is stalled")
			defer resp.Body.Close()
			msg, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tc.code, resp.StatusCode, string(msg))
			assert.True(t, strings.Contains(string(msg), "refused before the body"), string(msg))
		})
	}
}

// TestRefusalOfALargeBodyReachesTheClient: a client that writes its whole
// body before it reads (as curl --data-binary does) reads the pod's early
// refusal, never a reset connection: the proxy drains the rest of the body
// after answering. (Without the drain the proxy's server stops reading,
// closes with unread bytes, and the reset drops the answer the client had
// not read yet.)
func TestRefusalOfALargeBodyReachesTheClient(t *testing.T) {
	ca := newTestCA(t)
	podSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		http.Error(w, "the image is larger than the claim", http.StatusRequestEntityTooLarge)
	}))
	podSrv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serving(t, podName)}}
	podSrv.StartTLS()
	t.Cleanup(podSrv.Close)
	h, ks := setup(t, &locator{backend: Backend{URL: podSrv.URL, Credential: podCredential, TLS: ca.client(podName)}})
	h.Now = time.Now
	proxySrv := httptest.NewTLSServer(h)
	t.Cleanup(proxySrv.Close)

	conn, err := tls.Dial("tcp", proxySrv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	const size = 32 << 20
	_, err = fmt.Fprintf(conn, "POST /v1alpha1/upload HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n",
		sign(t, ks, scope, time.Now()), size)
	require.NoError(t, err)
	chunk := make([]byte, 1<<20)
	for sent := 0; sent < size; sent += len(chunk) {
		_, err := conn.Write(chunk)
		require.NoError(t, err, "the proxy reads the whole body (%d bytes written)", sent)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	msg, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, string(msg))
	assert.Contains(t, string(msg), "larger than the claim")
}

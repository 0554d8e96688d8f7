package uploadproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

var (
	t0    = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	scope = uploadtoken.Scope{Operation: uploadtoken.OperationUpload, Namespace: "vms", Name: "disk", UID: "uid-1"}
)

const (
	podCredential = "pod-credential-0123456789"
	// podName is the server name of the test pod's certificate.
	podName = "uid-1.upload.test.invalid"
)

// pod is a stand-in upload data pod: it checks the proxy's credential and
// records what it received.
type pod struct {
	mu          sync.Mutex
	got         []byte
	contentType string
	answer      int
	srv         *httptest.Server
	ca          *testCA
}

// backend is the pod's Backend as a Locator returns it.
func (p *pod) backend() Backend {
	return Backend{URL: p.srv.URL, Credential: podCredential, TLS: p.ca.client(podName)}
}

// newPod serves a stand-in upload pod over TLS with a certificate for
// podName from its own CA.
func newPod(t *testing.T, answer int) *pod {
	p := &pod{answer: answer, ca: newTestCA(t)}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/upload" || r.Header.Get("Authorization") != "Bearer "+podCredential {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.got, p.contentType = b, r.Header.Get(HeaderContentType)
		p.mu.Unlock()
		http.Error(w, "pod says "+http.StatusText(p.answer), p.answer)
	}))
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.ca.serving(t, podName)}}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

// locator answers from a table; notReady answers ErrNotReady that many
// times first.
type locator struct {
	mu       sync.Mutex
	backend  Backend
	err      error
	notReady int
	asked    int
}

func (l *locator) Locate(_ context.Context, s uploadtoken.Scope) (Backend, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked++
	if s != scope {
		return Backend{}, ErrNoTarget
	}
	if l.notReady > 0 {
		l.notReady--
		return Backend{}, ErrNotReady
	}
	return l.backend, l.err
}

// answer is how a test's locator answers.
type answer struct {
	err        error
	notReady   int
	credential string
}

func setup(t *testing.T, l *locator) (*Handler, *uploadtoken.Keys) {
	t.Helper()
	data, err := uploadtoken.NewSecretData()
	require.NoError(t, err)
	ks, err := uploadtoken.ParseKeys(data)
	require.NoError(t, err)
	return &Handler{Keys: ks, Locator: l, Wait: 200 * time.Millisecond, Poll: 10 * time.Millisecond,
		Now: func() time.Time { return t0.Add(time.Minute) }}, ks
}

func sign(t *testing.T, ks *uploadtoken.Keys, s uploadtoken.Scope, at time.Time) string {
	t.Helper()
	tok, err := ks.Sign(s, at)
	require.NoError(t, err)
	return tok
}

func do(h http.Handler, method, path, token string, body io.Reader, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, body)
	for k, v := range header {
		r.Header[k] = v
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestUpload(t *testing.T) {
	for _, path := range []string{"/v1alpha1/upload", "/v1beta1/upload"} {
		t.Run(path, func(t *testing.T) {
			p := newPod(t, http.StatusOK)
			h, ks := setup(t, &locator{backend: p.backend()})
			w := do(h, http.MethodPost, path, sign(t, ks, scope, t0), strings.NewReader("the image bytes"),
				http.Header{HeaderContentType: {"archive"}})
			assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
			assert.Equal(t, "text/plain; charset=utf-8", w.Header().Get("Content-Type"))
			assert.Equal(t, "the image bytes", string(p.got), "streamed as sent")
			assert.Equal(t, "archive", p.contentType)
		})
	}
}

func TestUploadForm(t *testing.T) {
	p := newPod(t, http.StatusOK)
	h, ks := setup(t, &locator{backend: p.backend()})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(t, mw.WriteField("comment", "ignored"))
	fw, err := mw.CreateFormFile("file", "disk.qcow2")
	require.NoError(t, err)
	_, _ = fw.Write([]byte("qcow2 bytes"))
	require.NoError(t, mw.Close())
	w := do(h, http.MethodPost, "/v1beta1/upload-form", sign(t, ks, scope, t0), &buf, http.Header{"Content-Type": {mw.FormDataContentType()}})
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "qcow2 bytes", string(p.got), "only the file field")

	w = do(h, http.MethodPost, "/v1beta1/upload-form", sign(t, ks, scope, t0), strings.NewReader("x"), nil)
	assert.Equal(t, http.StatusBadRequest, w.Code)
}

func TestUploadRefusals(t *testing.T) {
	other, err := uploadtoken.NewSecretData()
	require.NoError(t, err)
	foreign, err := uploadtoken.ParseKeys(other)
	require.NoError(t, err)
	tests := []struct {
		name    string
		loc     answer
		token   func(ks *uploadtoken.Keys) string
		path    string
		method  string
		podCode int
		want    int
		wantMsg string
	}{
		{name: "no token", token: func(*uploadtoken.Keys) string { return "" }, want: http.StatusUnauthorized},
		{name: "garbage token", token: func(*uploadtoken.Keys) string { return "abc.def.ghi" }, want: http.StatusUnauthorized},
		{name: "tampered token", token: func(ks *uploadtoken.Keys) string {
			tok := []byte(sign(t, ks, scope, t0))
			tok[len(tok)-5] ^= 1
			return string(tok)
		}, want: http.StatusUnauthorized},
		{name: "another system's token", token: func(*uploadtoken.Keys) string { return sign(t, foreign, scope, t0) }, want: http.StatusUnauthorized},
		{name: "expired token", token: func(ks *uploadtoken.Keys) string { return sign(t, ks, scope, t0.Add(-time.Hour)) },
			want: http.StatusUnauthorized, wantMsg: "expired"},
		{name: "token of an earlier claim of the name", loc: answer{err: ErrStale}, want: http.StatusUnauthorized, wantMsg: "earlier claim"},
		{name: "token of a claim without upload pod", token: func(ks *uploadtoken.Keys) string {
			s := scope
			s.Name = "other"
			return sign(t, ks, s, t0)
		}, want: http.StatusNotFound},
		{name: "already uploaded", loc: answer{err: ErrDone}, want: http.StatusConflict},
		{name: "pod never ready", loc: answer{notReady: 1 << 30}, want: http.StatusServiceUnavailable, wantMsg: "not ready"},
		{name: "not an endpoint", path: "/v1alpha1/uploads", want: http.StatusNotFound},
		{name: "GET", method: http.MethodGet, want: http.StatusMethodNotAllowed},
		{name: "larger than the claim", podCode: http.StatusRequestEntityTooLarge, want: http.StatusRequestEntityTooLarge, wantMsg: "pod says"},
		{name: "not an image", podCode: http.StatusBadRequest, want: http.StatusBadRequest, wantMsg: "pod says"},
		{name: "the pod refuses the proxy's credential", loc: answer{credential: "wrong"}, want: http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := tt.podCode
			if code == 0 {
				code = http.StatusOK
			}
			p := newPod(t, code)
			l := &locator{backend: p.backend(), err: tt.loc.err, notReady: tt.loc.notReady}
			if tt.loc.credential != "" {
				l.backend.Credential = tt.loc.credential
			}
			h, ks := setup(t, l)
			tok := sign(t, ks, scope, t0)
			if tt.token != nil {
				tok = tt.token(ks)
			}
			path, method := tt.path, tt.method
			if path == "" {
				path = "/v1alpha1/upload"
			}
			if method == "" {
				method = http.MethodPost
			}
			w := do(h, method, path, tok, strings.NewReader("bytes"), nil)
			assert.Equal(t, tt.want, w.Code, w.Body.String())
			assert.Contains(t, w.Body.String(), tt.wantMsg)
			if tt.want == http.StatusUnauthorized || tt.want == http.StatusNotFound || tt.want == http.StatusConflict ||
				tt.want == http.StatusServiceUnavailable || tt.want == http.StatusMethodNotAllowed {
				assert.Nil(t, p.got, "nothing reached the upload pod")
			}
			if tt.want == http.StatusServiceUnavailable {
				assert.Equal(t, "5", w.Header().Get("Retry-After"))
			}
		})
	}
}

// TestWaitsForThePod: a pod that becomes ready within Wait gets the upload.
func TestWaitsForThePod(t *testing.T) {
	p := newPod(t, http.StatusOK)
	l := &locator{backend: p.backend(), notReady: 3}
	h, ks := setup(t, l)
	h.Wait = 10 * time.Second
	w := do(h, http.MethodPost, "/v1alpha1/upload", sign(t, ks, scope, t0), strings.NewReader("late"), nil)
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, 4, l.asked)
	assert.Equal(t, "late", string(p.got))
}

func TestHealthz(t *testing.T) {
	h, _ := setup(t, &locator{})
	assert.Equal(t, http.StatusOK, do(h, http.MethodGet, "/healthz", "", nil, nil).Code)
}

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cdi-functions/cdi-functions/pkg/pipeline"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testCredential = "0123456789abcdef-upload-pod"

// newTestReceiver serves a receiver writing into a fresh target of size
// bytes, built by receiveFlags.server as the command builds it.
func newTestReceiver(t *testing.T, size string) (*httptest.Server, *receiver, string) {
	t.Helper()
	dir := t.TempDir()
	credFile := filepath.Join(t.TempDir(), "credential")
	require.NoError(t, os.WriteFile(credFile, []byte(testCredential+"\n"), 0o600))
	f := receiveFlags{target: dir, size: size, scratch: t.TempDir(), credentialFile: credFile}
	srv, rc, err := f.server(io.Discard)
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler)
	t.Cleanup(ts.Close)
	return ts, rc, dir
}

func upload(t *testing.T, url, credential, contentType string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+receivePath, body)
	require.NoError(t, err)
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	if contentType != "" {
		req.Header.Set(headerContentType, contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	return resp.StatusCode, string(b)
}

func TestReceive(t *testing.T) {
	fx := makeFixtures(t)
	for _, name := range []string{"disk.qcow2", "disk.qcow2.xz", "disk.raw.gz", "disk-qcow2.tar.xz", "disk.iso"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts, rc, dir := newTestReceiver(t, "64Mi")
			code, msg := upload(t, ts.URL, testCredential, "", bytes.NewReader(fx.file(t, name)))
			require.Equal(t, http.StatusOK, code, msg)
			assert.Contains(t, msg, "uploaded ")
			got, err := os.ReadFile(filepath.Join(dir, "disk.img"))
			require.NoError(t, err)
			want := fx.want(t, name)
			require.True(t, bytes.Equal(want, got[:len(want)]), "disk.img differs from qemu-img convert of the source")
			assert.True(t, allZero(got[len(want):]), "zeros after the image")
			select {
			case <-rc.done:
			default:
				t.Fatal("a successful upload ends the receiver")
			}

			code, msg = upload(t, ts.URL, testCredential, "", strings.NewReader("again"))
			assert.Equal(t, http.StatusConflict, code, msg)
		})
	}
}

func TestReceiveRefuses(t *testing.T) {
	fx := makeFixtures(t)
	tests := []struct {
		name, credential, contentType string
		body                          []byte
		size                          string
		want                          int
		wantMsg                       string
	}{
		{name: "no credential", body: []byte("x"), want: http.StatusUnauthorized},
		{name: "another pod's credential", credential: "fedcba9876543210-other-pod", body: []byte("x"), want: http.StatusUnauthorized},
		{name: "unknown content type", credential: testCredential, contentType: "floppy", body: []byte("x"), want: http.StatusBadRequest, wantMsg: headerContentType},
		{name: "an HTML page", credential: testCredential, body: []byte("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>"),
			want: http.StatusBadRequest, wantMsg: "HTML page"},
		{name: "larger than the claim", credential: testCredential, body: fx.file(t, "disk.qcow2"), size: "1Mi",
			want: http.StatusRequestEntityTooLarge, wantMsg: "larger than the target"},
		{name: "a qcow2 that ends early", credential: testCredential, body: fx.file(t, "disk.qcow2")[:300<<10],
			want: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.size
			if size == "" {
				size = "64Mi"
			}
			ts, rc, dir := newTestReceiver(t, size)
			code, msg := upload(t, ts.URL, tt.credential, tt.contentType, bytes.NewReader(tt.body))
			assert.Equal(t, tt.want, code, msg)
			assert.Contains(t, msg, tt.wantMsg)
			assert.NoFileExists(t, filepath.Join(dir, "disk.img"), "nothing published")
			assert.False(t, rc.ok.Load())

			// The receiver keeps waiting: a good upload still works.
			code, msg = upload(t, ts.URL, testCredential, "", bytes.NewReader(fx.file(t, "disk.raw.gz")))
			if tt.size == "" {
				assert.Equal(t, http.StatusOK, code, msg)
			}
		})
	}
}

// TestReceiveOneAtATime: while an upload streams, a second one is told to
// come back later.
func TestReceiveOneAtATime(t *testing.T) {
	ts, rc, _ := newTestReceiver(t, "64Mi")
	started := make(chan struct{})
	write := rc.write
	rc.write = func(ctx context.Context, ct pipeline.ContentType, body io.Reader) (pipeline.Result, error) {
		close(started)
		return write(ctx, ct, body)
	}
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	var firstCode int
	wg.Go(func() { firstCode, _ = upload(t, ts.URL, testCredential, "", pr) })
	_, err := pw.Write(bytes.Repeat([]byte{0}, 1<<20))
	require.NoError(t, err)
	<-started // the first upload holds the receiver

	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, ts.URL+receivePath, strings.NewReader("second"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testCredential)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, busyRetryAfter, resp.Header.Get("Retry-After"))

	require.NoError(t, pw.Close())
	wg.Wait()
	assert.Equal(t, http.StatusOK, firstCode, "the first upload (1 MiB of zeros, a raw disk) completes")
}

func TestReceiveFlags(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	require.NoError(t, os.WriteFile(short, []byte("abc"), 0o600))
	tests := []struct {
		f    receiveFlags
		want string
	}{
		{receiveFlags{credentialFile: short}, "--target is required"},
		{receiveFlags{target: dir}, "--credential-file is required"},
		{receiveFlags{target: dir, credentialFile: short}, "shorter than 16 bytes"},
		{receiveFlags{target: dir, credentialFile: filepath.Join(dir, "missing")}, "read the credential"},
		{receiveFlags{target: dir, credentialFile: short, tlsCert: "c"}, "go together"},
	}
	for _, tt := range tests {
		_, _, err := tt.f.server(io.Discard)
		assert.ErrorContains(t, err, tt.want)
	}
}

func allZero(b []byte) bool {
	return len(bytes.Trim(b, "\x00")) == 0
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// BenchmarkUploadThroughTheProxy is make bench-upload's proxy path on
// loopback, for profiling (go test -bench UploadThroughTheProxy
// -cpuprofile): a sparse raw image (30% random 1 MiB extents) POSTed to the
// real upload proxy handler over TLS, which streams it over TLS to the real
// receiver, which writes disk.img.
func BenchmarkUploadThroughTheProxy(b *testing.B) {
	const size = 256 << 20
	image := filepath.Join(b.TempDir(), "disk.raw")
	f, err := os.Create(image)
	require.NoError(b, err)
	r := rand.New(rand.NewPCG(1, 1))
	extent := make([]byte, 1<<20)
	for _, k := range r.Perm(size >> 20)[:(size>>20)*30/100] {
		for i := range extent {
			extent[i] = byte(r.Uint32())
		}
		_, err := f.WriteAt(extent, int64(k)<<20)
		require.NoError(b, err)
	}
	require.NoError(b, f.Truncate(size))
	require.NoError(b, f.Close())

	data, err := uploadtoken.NewSecretData()
	require.NoError(b, err)
	keys, err := uploadtoken.ParseKeys(data)
	require.NoError(b, err)
	b.SetBytes(size)
	var tail, sent time.Duration
	for b.Loop() {
		b.StopTimer()
		ts, rc, _ := newTLSReceiver(b, "300Mi")
		pool := x509.NewCertPool()
		pool.AddCert(ts.Certificate())
		be := uploadproxy.Backend{URL: ts.URL, Credential: testCredential, TLS: &tls.Config{RootCAs: pool, ServerName: "example.com"}}
		p := &proxy{t: b, addr: "127.0.0.1:0", keys: keys, loc: fixedLocator{be: be}, cert: ts.TLS.Certificates[0]}
		p.start()
		tok, err := keys.Sign(resumeScope, time.Now())
		require.NoError(b, err)
		body, err := os.Open(image)
		require.NoError(b, err)
		eb := &eofBody{r: body}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://"+p.addr+"/v1beta1/upload", eb)
		require.NoError(b, err)
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer "+tok)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"}, WriteBufferSize: 64 << 10}}
		b.StartTimer()
		start := time.Now()
		resp, err := client.Do(req)
		require.NoError(b, err)
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		b.StopTimer()
		tail += time.Since(eb.eof)
		sent += eb.eof.Sub(start)
		require.Equal(b, http.StatusOK, resp.StatusCode, "%s", msg)
		require.True(b, strings.HasPrefix(string(msg), "uploaded"), "%s", msg)
		<-rc.done
		_ = body.Close()
		_ = p.srv.Close()
		ts.Close()
		b.StartTimer()
	}
	b.ReportMetric(sent.Seconds()/float64(b.N), "send-s/op")
	b.ReportMetric(tail.Seconds()/float64(b.N), "tail-s/op")
}

// eofBody notes when its reader ended.
type eofBody struct {
	r   io.Reader
	eof time.Time
}

func (e *eofBody) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF && e.eof.IsZero() {
		e.eof = time.Now()
	}
	return n, err
}

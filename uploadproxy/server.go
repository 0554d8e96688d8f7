package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy"
)

// Serving limits. No ReadTimeout or WriteTimeout: an upload of many GiB
// takes as long as it takes (the handler and the pod bound a stalled
// one); only the request's header must arrive promptly.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	// drainDelay is how long the proxy keeps serving after SIGTERM while
	// its readiness fails, so the Service stops sending it new uploads.
	drainDelay = 5 * time.Second
)

// front is the proxy's HTTP handler: the probes, then the current upload
// handler (replaced when the token keys rotate; requests in flight finish
// on the one they started with).
type front struct {
	// ready reports why the proxy cannot take uploads yet, nil when it can.
	ready    func() error
	handler  atomic.Pointer[uploadproxy.Handler]
	draining atomic.Bool
}

// ServeHTTP implements http.Handler.
func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		plain(w, http.StatusOK, "ok")
		return
	case "/readyz":
		if err := f.notReady(); err != nil {
			plain(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		plain(w, http.StatusOK, "ok")
		return
	}
	h := f.handler.Load()
	if h == nil {
		w.Header().Set("Retry-After", "5")
		plain(w, http.StatusServiceUnavailable, "the upload proxy is starting: try again shortly")
		return
	}
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	body := &countingReader{r: r.Body}
	r.Body = body
	h.ServeHTTP(rec, r)
	logging.FromContext(r.Context()).Infow("Upload request",
		zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", rec.status()),
		zap.Int64("bytes", body.n.Load()), zap.Duration("duration", time.Since(start)), zap.String("remote", r.RemoteAddr))
}

// notReady is why the proxy must not get traffic, nil when it may.
func (f *front) notReady() error {
	if f.draining.Load() {
		return errors.New("shutting down")
	}
	if f.handler.Load() == nil {
		return errors.New("no upload token keys yet")
	}
	return f.ready()
}

// plain answers a plain-text message.
func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// newServer is the HTTPS server of h with the certificates of certs. It
// speaks HTTP/1.1 only: an upload is one long request body, which Go's
// HTTP/2 server moves slower (per-stream flow control), and an answer
// given before the body was read (401, 503 after the wait) reached curl
// over HTTP/2 without its message (the stream is reset under it).
func newServer(ctx context.Context, h http.Handler, certs *certSource) *http.Server {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &http.Server{
		Protocols:         protocols,
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		TLSConfig:         &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12},
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          zap.NewStdLog(logging.FromContext(ctx).Desugar()),
	}
}

// serve serves srv on ln until ctx is done, then drains: readiness fails
// for drainDelay while new requests are still taken, then the server
// stops accepting and waits up to timeout for the running uploads before
// it closes them.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, f *front, drain, timeout time.Duration) error {
	logger := logging.FromContext(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	f.draining.Store(true)
	logger.Infow("Shutting down: draining", zap.Duration("drain", drain), zap.Duration("timeout", timeout))
	time.Sleep(drain)
	srv.SetKeepAlivesEnabled(false)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warnw("Uploads still running at the shutdown timeout: closing them", zap.Error(err))
		return srv.Close()
	}
	logger.Info("Shut down: no upload was running")
	return nil
}

// recorder remembers the status of a response.
type recorder struct {
	http.ResponseWriter
	code int
}

// WriteHeader implements http.ResponseWriter.
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// countingReader counts the bytes of a request body read so far.
type countingReader struct {
	r io.ReadCloser
	n atomic.Int64
}

// Read implements io.Reader.
func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Close implements io.Closer.
func (c *countingReader) Close() error { return c.r.Close() }

package sourcetest

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fault is a way a response body goes wrong.
type Fault int

// The faults a Server injects into GET bodies, after Config.FaultAfter
// bytes of the body have been sent.
const (
	// NoFault sends bodies whole.
	NoFault Fault = iota
	// Drop hijacks the connection and closes it: the client sees an
	// unexpected EOF before Content-Length.
	Drop
	// LieLength keeps the declared Content-Length but ends the response
	// early; the server then closes the connection.
	LieLength
	// ShortBody sends the body chunked, without Content-Length, and ends
	// it cleanly early: only the client's own expectation (Content-Range
	// or the size) shows it is short.
	ShortBody
	// Stall stops sending and keeps the connection open until the client
	// goes away or the server closes.
	Stall
)

// String names the fault for test names and messages.
func (f Fault) String() string {
	switch f {
	case NoFault:
		return "none"
	case Drop:
		return "drop"
	case LieLength:
		return "lie-length"
	case ShortBody:
		return "short-body"
	case Stall:
		return "stall"
	default:
		return "Fault(" + strconv.Itoa(int(f)) + ")"
	}
}

// Config describes a Server's object and misbehaviour.
type Config struct {
	// Data is the object served at every path.
	Data []byte
	// Handler, if set, serves requests instead of Data (for example
	// S3.Proxy()); faults, auth and failures still apply.
	Handler http.Handler
	// Addr is the listen address, "127.0.0.1:0" if empty. Use
	// "127.0.0.2:0" for a second host.
	Addr string
	// TLS serves HTTPS with a certificate from CA (a new CA if nil).
	TLS bool
	// CA issues the TLS certificate.
	CA *CA
	// NoRanges ignores Range headers: every GET gets 200 and everything.
	NoRanges bool
	// RefuseHEAD answers HEAD with 405.
	RefuseHEAD bool
	// User and Password, if User is set, are required as basic auth.
	User, Password string
	// Fault breaks GET bodies after FaultAfter body bytes.
	Fault      Fault
	FaultAfter int64
	// FaultCount is how many bodies get the fault; 0 means all of them.
	// Bodies too short to reach FaultAfter do not count.
	FaultCount int
	// FailEvery answers every k-th request (counting all) with 503.
	FailEvery int
	// RetryAfter is the Retry-After header sent with those 503s.
	RetryAfter string
	// RedirectTo answers every request with a 302 to this base URL plus
	// the request's path and query.
	RedirectTo string
	// ModTime is the Last-Modified time; a fixed past time if zero.
	ModTime time.Time
}

// Request is one request as the Server saw and answered it.
type Request struct {
	Method        string
	Path          string
	Range         string // the Range header
	IfRange       string // the If-Range header
	Authorization bool   // whether an Authorization header came
	Status        int
	Sent          int64 // body bytes sent
	Fault         Fault // the fault injected into this response
}

// Server is a loopback HTTP(S) server with injected faults.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:40401; any path serves
	// the object.
	URL string
	// CertDir holds the CA certificate for TLS servers ("" otherwise).
	CertDir string

	cfg    Config
	srv    *httptest.Server
	stop   chan struct{}
	closed sync.Once
	count  atomic.Int64
	faults atomic.Int64

	mu       sync.Mutex
	data     []byte
	etag     string
	modTime  time.Time
	requests []*Request
}

// NewServer starts a Server; it is closed when the test ends.
func NewServer(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.ModTime.IsZero() {
		cfg.ModTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	s := &Server{cfg: cfg, stop: make(chan struct{})}
	s.setData(cfg.Data, cfg.ModTime)
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		tb.Fatalf("listen on %s: %v", cfg.Addr, err)
	}
	s.srv = httptest.NewUnstartedServer(s)
	_ = s.srv.Listener.Close()
	s.srv.Listener = l
	if cfg.TLS {
		ca := cfg.CA
		if ca == nil {
			ca = NewCA(tb)
		}
		s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(tb, l.Addr().(*net.TCPAddr).IP)}}
		s.srv.StartTLS()
		s.CertDir = ca.CertDir
	} else {
		s.srv.Start()
	}
	s.URL = s.srv.URL
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server, releasing stalled responses first.
func (s *Server) Close() {
	s.closed.Do(func() {
		close(s.stop)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// SetData replaces the object, giving it a new ETag and Last-Modified.
func (s *Server) SetData(data []byte) {
	s.setData(data, time.Now().Truncate(time.Second))
}

func (s *Server) setData(data []byte, mod time.Time) {
	sum := sha256.Sum256(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data, s.modTime = data, mod
	s.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
}

// Requests returns a copy of the request log, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
	}
	return out
}

// GETs returns the logged GET requests, oldest first.
func (s *Server) GETs() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Method == http.MethodGet {
			out = append(out, r)
		}
	}
	return out
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &Request{
		Method:        r.Method,
		Path:          r.URL.Path,
		Range:         r.Header.Get("Range"),
		IfRange:       r.Header.Get("If-Range"),
		Authorization: r.Header.Get("Authorization") != "",
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	fw := &faultWriter{s: s, w: w, r: r, rec: rec}
	defer fw.done()

	n := s.count.Add(1)
	switch {
	case s.cfg.FailEvery > 0 && n%int64(s.cfg.FailEvery) == 0:
		if s.cfg.RetryAfter != "" {
			w.Header().Set("Retry-After", s.cfg.RetryAfter)
		}
		http.Error(fw, "injected failure", http.StatusServiceUnavailable)
		return
	case s.cfg.User != "":
		u, p, ok := r.BasicAuth()
		if !ok || u != s.cfg.User || p != s.cfg.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="sourcetest"`)
			http.Error(fw, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	switch {
	case s.cfg.RedirectTo != "":
		http.Redirect(fw, r, s.cfg.RedirectTo+r.URL.RequestURI(), http.StatusFound)
	case r.Method == http.MethodHead && s.cfg.RefuseHEAD:
		http.Error(fw, "HEAD refused", http.StatusMethodNotAllowed)
	case s.cfg.Handler != nil:
		s.cfg.Handler.ServeHTTP(fw, r)
	default:
		s.serveData(fw, r)
	}
}

func (s *Server) serveData(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	data, etag, mod := s.data, s.etag, s.modTime
	s.mu.Unlock()
	w.Header().Set("ETag", etag)
	if !s.cfg.NoRanges {
		http.ServeContent(w, r, "", mod, bytes.NewReader(data))
		return
	}
	w.Header().Set("Last-Modified", mod.UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

// errInjected ends a handler's body after a fault.
var errInjected = errors.New("sourcetest: injected fault")

// faultWriter counts body bytes and injects the configured fault.
type faultWriter struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	rec    *Request
	status int
	armed  bool // this body gets the fault
	sent   int64
	broken bool
}

func (f *faultWriter) Header() http.Header { return f.w.Header() }

func (f *faultWriter) WriteHeader(code int) {
	if f.status != 0 {
		return
	}
	f.status = code
	cfg := f.s.cfg
	if cfg.Fault != NoFault && f.r.Method == http.MethodGet && (code == http.StatusOK || code == http.StatusPartialContent) {
		if cl, err := strconv.ParseInt(f.w.Header().Get("Content-Length"), 10, 64); err != nil || cl > cfg.FaultAfter {
			if cfg.FaultCount == 0 || f.s.faults.Add(1) <= int64(cfg.FaultCount) {
				f.armed = true
			}
		}
	}
	if f.armed && cfg.Fault == ShortBody {
		f.w.Header().Del("Content-Length")
	}
	f.w.WriteHeader(code)
}

func (f *faultWriter) Write(p []byte) (int, error) {
	if f.broken {
		return 0, errInjected
	}
	if f.status == 0 {
		f.WriteHeader(http.StatusOK)
	}
	if !f.armed || f.sent+int64(len(p)) <= f.s.cfg.FaultAfter {
		n, err := f.w.Write(p)
		f.sent += int64(n)
		return n, err
	}
	allowed := f.s.cfg.FaultAfter - f.sent
	n, err := f.w.Write(p[:allowed])
	f.sent += int64(n)
	if err != nil {
		return n, err
	}
	f.broken = true
	f.done() // logged before a stall, which lasts until the client leaves
	rc := http.NewResponseController(f.w)
	_ = rc.Flush()
	switch f.s.cfg.Fault {
	case Drop:
		if conn, _, err := rc.Hijack(); err == nil {
			_ = conn.Close()
		}
	case Stall:
		select {
		case <-f.r.Context().Done():
		case <-f.s.stop:
		}
	}
	return n, errInjected
}

// Flush lets streaming handlers (a reverse proxy) flush through.
func (f *faultWriter) Flush() {
	if !f.broken {
		_ = http.NewResponseController(f.w).Flush()
	}
}

func (f *faultWriter) done() {
	status := f.status
	if status == 0 {
		status = http.StatusOK
	}
	fault := NoFault
	if f.broken {
		fault = f.s.cfg.Fault
	}
	f.s.mu.Lock()
	f.rec.Status, f.rec.Sent, f.rec.Fault = status, f.sent, fault
	f.s.mu.Unlock()
}

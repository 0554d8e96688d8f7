package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cdi-functions/cdi-functions/pkg/egress"
	"github.com/cdi-functions/cdi-functions/pkg/redact"
)

// probeBodyLimit is how much of an unwanted body is drained so that its
// connection can be reused; larger ones are cut off.
const probeBodyLimit = 64 << 10

// errTooManyRedirects stops a redirect chain.
var errTooManyRedirects = fmt.Errorf("stopped after %d redirects", DefaultRedirects)

// httpSource reads an http:// or https:// URL.
type httpSource struct {
	url     *url.URL
	name    string // the URL without credentials or query
	client  *http.Client
	creds   *credentials
	certDir string
	pol     retryPolicy
	egress  *egress.Policy

	// Learnt by the probe.
	size int64
	// rangeCapable: the server honours byte ranges; ranges: and its
	// first answer carried a validator, so ranges are used.
	rangeCapable bool
	ranges       bool
	etag         string
	lastModified string
}

var _ Source = (*httpSource)(nil)

func newHTTP(ctx context.Context, u *url.URL, opts Options) (*httpSource, error) {
	creds, err := loadCredentials(opts.SecretDir)
	if err != nil {
		return nil, err
	}
	u = cloneURL(u)
	if u.User != nil {
		return nil, fmt.Errorf("source %s: %w", redact.URL(u), ErrCredentialsInURL)
	}
	pol := opts.egressPolicy()
	tr, err := newTransport(opts.CertDir, pol)
	if err != nil {
		return nil, err
	}
	if err := pol.CheckURL(u); err != nil {
		return nil, fmt.Errorf("GET %s: %w", redact.URL(u), err)
	}
	s := &httpSource{
		url:     u,
		name:    redact.URL(u),
		creds:   creds,
		certDir: opts.CertDir,
		pol:     opts.policy(),
		egress:  pol,
		size:    -1,
	}
	s.client = &http.Client{Transport: tr, CheckRedirect: s.checkRedirect}
	ctx, cancel := s.pol.withDeadline(ctx)
	defer cancel()
	if err := s.pol.retry(ctx, s.name, s.probe); err != nil {
		return nil, err
	}
	return s, nil
}

// Open implements Source.
func (s *httpSource) Open(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	end, empty, err := resolveRange(s.name, s.size, s.ranges, off, length)
	if err != nil {
		return nil, err
	}
	if empty {
		return io.NopCloser(strings.NewReader("")), nil
	}
	return openResuming(ctx, s, &s.pol, off, end)
}

// Size implements Source.
func (s *httpSource) Size() int64 { return s.size }

// Ranges implements Source.
func (s *httpSource) Ranges() bool { return s.ranges }

// String implements Source.
func (s *httpSource) String() string { return s.name }

// Close releases idle connections.
func (s *httpSource) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// resumable implements rangeOpener: a transfer resumes only with ranges
// and a validator, which makes a changed object answer 200 (If-Range)
// instead of the rest of another version.
func (s *httpSource) resumable() error {
	switch {
	case !s.rangeCapable:
		return ErrNoRanges
	case !s.ranges:
		return ErrNoValidator
	}
	return nil
}

// probe learns size, range support and validators with a one-byte ranged
// GET: only a 206 with a matching Content-Range proves range support
// (Accept-Ranges alone does not), and unlike HEAD it also works where a
// signed URL allows only GET. Ranges are used only when the answer also
// carries a validator (see ifRange).
func (s *httpSource) probe(ctx context.Context) error {
	resp, err := s.do(ctx, "bytes=0-0", "")
	if err != nil {
		return err
	}
	defer drainClose(resp.Body)
	what := "GET " + s.name
	cr := resp.Header.Get("Content-Range")
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if err := checkEncoding(what, resp.Header); err != nil {
			return err
		}
		r, ok := parseContentRange(cr)
		if !ok || r.first != 0 || r.last != 0 {
			return fmt.Errorf("%s: answered bytes=0-0 with Content-Range %q", what, cr)
		}
		s.rangeCapable, s.size = true, r.total
	case http.StatusOK:
		if err := checkEncoding(what, resp.Header); err != nil {
			return err
		}
		s.rangeCapable, s.size = false, resp.ContentLength
	case http.StatusRequestedRangeNotSatisfiable:
		n, ok := parseUnsatisfiedRange(cr)
		if !ok || n != 0 {
			return statusError(what, resp, time.Now())
		}
		s.rangeCapable, s.size = true, 0 // an empty object
	default:
		return statusError(what, resp, time.Now())
	}
	s.etag = resp.Header.Get("ETag")
	s.lastModified = resp.Header.Get("Last-Modified")
	s.ranges = s.rangeCapable && (s.ifRange() != "" || s.size == 0)
	if s.rangeCapable && !s.ranges {
		s.pol.log.Info("the server honours ranges but sent no validator (strong ETag or Last-Modified): reading without ranges",
			zap.String("source", s.name))
	}
	return nil
}

// openRange implements rangeOpener.
func (s *httpSource) openRange(ctx context.Context, off, end int64) (io.ReadCloser, int64, error) {
	what := "GET " + s.name
	var rng, ifRange string
	if s.ranges {
		rng = rangeHeader(off, end)
		ifRange = s.ifRange()
	}
	resp, err := s.do(ctx, rng, ifRange)
	if err != nil {
		return nil, 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusPartialContent:
		if err := checkEncoding(what, resp.Header); err != nil {
			drainClose(resp.Body)
			return nil, 0, err
		}
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if s.changed(resp.Header) {
			drainClose(resp.Body)
			return nil, 0, fmt.Errorf("%s: ETag or Last-Modified differ from the first answer's: %w", what, ErrChanged)
		}
		if rng == "" {
			drainClose(resp.Body)
			return nil, 0, fmt.Errorf("%s: HTTP 206 to a request without Range", what)
		}
		want, err := checkPartial(what, resp.Header, off, end, s.size)
		if err != nil {
			drainClose(resp.Body)
			return nil, 0, err
		}
		return resp.Body, want, nil
	case http.StatusOK:
		if s.changed(resp.Header) || (s.size >= 0 && resp.ContentLength >= 0 && resp.ContentLength != s.size) {
			drainClose(resp.Body)
			return nil, 0, fmt.Errorf("%s: the object's ETag, Last-Modified or length differ from the first answer's: %w", what, ErrChanged)
		}
		if off != 0 {
			drainClose(resp.Body)
			return nil, 0, fmt.Errorf("%s: HTTP 200 to a request for %s: %w", what, rng, ErrNoRanges)
		}
		// The whole object from the start serves any range from 0.
		return resp.Body, resp.ContentLength, nil
	default:
		defer drainClose(resp.Body)
		return nil, 0, statusError(what, resp, time.Now())
	}
}

// do sends one GET with optional Range and If-Range headers. Transport
// failures come back classified and without the URL's query.
func (s *httpSource) do(ctx context.Context, rng, ifRange string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", s.name, err)
	}
	// Any coding is acceptable to a request without Accept-Encoding
	// (RFC 9110, 12.5.3): ask for the bytes as they are.
	req.Header.Set("Accept-Encoding", "identity")
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	if ifRange != "" {
		req.Header.Set("If-Range", ifRange)
	}
	if s.creds != nil {
		req.SetBasicAuth(s.creds.user, s.creds.password)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.transportError(err)
	}
	return resp, nil
}

// ifRange is the validator sent with range requests so that a changed
// object answers 200 instead of splicing two versions: a strong ETag, or
// else Last-Modified.
func (s *httpSource) ifRange() string {
	if s.etag != "" && !strings.HasPrefix(s.etag, "W/") {
		return s.etag
	}
	return s.lastModified
}

// changed reports whether h names another version of the object than the
// probe saw.
func (s *httpSource) changed(h http.Header) bool {
	if etag := h.Get("ETag"); s.etag != "" && etag != "" {
		return etag != s.etag
	}
	lm := h.Get("Last-Modified")
	return s.lastModified != "" && lm != "" && lm != s.lastModified
}

// transportError classifies a failure to get a response.
func (s *httpSource) transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message repeats the URL, query included
	}
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("GET %s: %w", s.name, err)
	case errors.Is(err, errTooManyRedirects), errors.Is(err, ErrRedirect), errors.Is(err, egress.ErrDenied):
		return fmt.Errorf("GET %s: %w", s.name, err)
	case tlsError(err):
		return fmt.Errorf("GET %s: TLS verification failed: %w (%s)", s.name, err, tlsHint(s.certDir))
	case errors.As(err, &dns) && dns.IsNotFound:
		return fmt.Errorf("GET %s: %w", s.name, err)
	default:
		return transient(fmt.Errorf("GET %s: %w", s.name, err), 0)
	}
}

// checkRedirect follows up to DefaultRedirects redirects to http and
// https URLs, never from https back to http (ErrRedirect otherwise), nor to
// a literal address the egress policy refuses. It keeps the Authorization
// header only while every hop stays on the first URL's host and port (an
// upgrade from http to https on the default ports included). Go's own
// rule keeps it for any port and for subdomains.
func (s *httpSource) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= DefaultRedirects {
		return errTooManyRedirects
	}
	prev, next := via[len(via)-1].URL, req.URL
	switch {
	case next.Scheme != "http" && next.Scheme != "https":
		return fmt.Errorf("redirect from %s to %s: only http and https are followed: %w", redact.URL(prev), redact.URL(next), ErrRedirect)
	case prev.Scheme == "https" && next.Scheme == "http":
		return fmt.Errorf("redirect from %s to %s: https is never downgraded to http: %w", redact.URL(prev), redact.URL(next), ErrRedirect)
	case next.User != nil:
		return fmt.Errorf("redirect from %s to %s: %w: %w", redact.URL(prev), redact.URL(next), ErrCredentialsInURL, ErrRedirect)
	}
	if err := s.egress.CheckURL(next); err != nil {
		return fmt.Errorf("redirect to %s: %w", redact.URL(next), err)
	}
	origin := via[0].URL
	for _, r := range append(via[1:len(via):len(via)], req) {
		if !sameAuthority(origin, r.URL) {
			req.Header.Del("Authorization")
			break
		}
	}
	return nil
}

// sameAuthority reports whether credentials meant for a may be sent to b.
func sameAuthority(a, b *url.URL) bool {
	if !strings.EqualFold(a.Hostname(), b.Hostname()) {
		return false
	}
	if a.Scheme == b.Scheme {
		return effectivePort(a) == effectivePort(b)
	}
	// http://host → https://host on the default ports is an upgrade.
	return a.Scheme == "http" && b.Scheme == "https" && effectivePort(a) == "80" && effectivePort(b) == "443"
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// checkEncoding refuses an answer with a Content-Encoding other than
// identity: the request accepted none, and its bytes are not the object's.
func checkEncoding(what string, h http.Header) error {
	for _, v := range h.Values("Content-Encoding") {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return fmt.Errorf("%s: the answer has Content-Encoding %q although the request accepted identity only "+
					"(serve the file as it is, without compression on the fly): %w", what, v, ErrContentEncoding)
			}
		}
	}
	return nil
}

// cloneURL is a deep copy of u (its user info included).
func cloneURL(u *url.URL) *url.URL {
	c := *u
	if u.User != nil {
		uc := *u.User
		c.User = &uc
	}
	return &c
}

// drainClose reads a little of body, so a small one frees its connection
// for reuse, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, probeBodyLimit)
	_ = body.Close()
}

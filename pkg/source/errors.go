package source

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/egress"
)

// Errors a caller can test for with errors.Is. Messages wrap them with the
// source's name (never its credentials) and what was being done.
var (
	// ErrNotFound means the object does not exist (HTTP 404/410, S3
	// NoSuchKey or NoSuchBucket).
	ErrNotFound = errors.New("not found")
	// ErrAccessDenied means the credentials were refused or are missing
	// (HTTP 401/403, S3 AccessDenied and signature errors).
	ErrAccessDenied = errors.New("access denied")
	// ErrNoRanges means a transfer broke on a server that does not serve
	// byte ranges, so it cannot be resumed, or a range was asked of it.
	ErrNoRanges = errors.New("server does not support range requests; cannot resume")
	// ErrChanged means the object changed (ETag, Last-Modified or size)
	// while it was being read.
	ErrChanged = errors.New("source changed during the download")
	// ErrStalled means no byte arrived for the stall timeout.
	ErrStalled = errors.New("transfer stalled")
	// ErrNoValidator means a transfer broke on a server whose first answer
	// carried no validator (a strong ETag or Last-Modified): resuming could
	// splice two versions of the object, so the transfer must start again
	// from byte 0. Such a server is also read without ranges.
	ErrNoValidator = errors.New("server sent no validator (strong ETag or Last-Modified); cannot resume safely, the download must start again")
	// ErrTooSlow means a transfer stayed below Options.MinRate for
	// Options.MinRateWindow.
	ErrTooSlow = errors.New("transfer too slow")
	// ErrDeadline means the download did not finish within
	// Options.Deadline. It is final: starting again would take as long.
	ErrDeadline = errors.New("download deadline exceeded")
	// ErrRedirect means a redirect was refused: to a scheme other than
	// http or https, or from https to http. It is final.
	ErrRedirect = errors.New("redirect refused")
	// ErrContentEncoding means an HTTP answer carried a Content-Encoding
	// although the request accepted only identity: its bytes are not the
	// object's, so they are never taken as the image. It is final.
	ErrContentEncoding = errors.New("unrequested Content-Encoding")
	// ErrCredentialsInURL means the source URL (or the S3 endpoint)
	// carries user info; credentials belong in Options.SecretDir. The
	// message never repeats them.
	ErrCredentialsInURL = errors.New("credentials in the URL are not accepted: put them in the Secret (--secret-dir)")
	// ErrUnsupportedScheme means the URL's scheme is not one New serves.
	ErrUnsupportedScheme = errors.New("unsupported source scheme (allowed: http://, https://, s3://, file://, a plain path, or - for stdin)")
)

// transientError marks a failure worth retrying, optionally after a delay
// the server asked for.
type transientError struct {
	err   error
	after time.Duration // server's Retry-After, 0 if none
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func transient(err error, after time.Duration) error {
	return &transientError{err: err, after: after}
}

// isTransient reports whether err may pass on retry, and the delay the
// server asked for.
func isTransient(err error) (bool, time.Duration) {
	var t *transientError
	if errors.As(err, &t) {
		return true, t.after
	}
	return false, 0
}

// statusError turns an unsuccessful HTTP status into an error; what says
// what was attempted ("GET http://host/path").
func statusError(what string, resp *http.Response, now time.Time) error {
	code := resp.StatusCode
	switch {
	case code == http.StatusNotFound || code == http.StatusGone:
		return fmt.Errorf("%s: %w (HTTP %d)", what, ErrNotFound, code)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%s: %w (HTTP %d)", what, ErrAccessDenied, code)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return transient(fmt.Errorf("%s: server answered HTTP %d", what, code), retryAfter(resp.Header.Get("Retry-After"), now))
	case code == http.StatusRequestedRangeNotSatisfiable:
		return fmt.Errorf("%s: requested range not satisfiable (HTTP 416, Content-Range %q)", what, resp.Header.Get("Content-Range"))
	default:
		return fmt.Errorf("%s: unexpected HTTP status %d", what, code)
	}
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Retryable reports whether a failed transfer may succeed if tried again
// later: network errors, stalls, too slow transfers, server-side (5xx,
// 429, 408) answers after the retries ran out, a drop on a server without
// ranges or validators, or an object that changed mid-download. Not found,
// access denied, bad URLs, an address the egress policy refuses, a refused
// redirect, an unrequested Content-Encoding and the deadline are not.
func Retryable(err error) bool {
	if errors.Is(err, egress.ErrDenied) || errors.Is(err, ErrDeadline) || errors.Is(err, ErrRedirect) ||
		errors.Is(err, ErrContentEncoding) {
		return false
	}
	if ok, _ := isTransient(err); ok {
		return true
	}
	if errors.Is(err, ErrStalled) || errors.Is(err, ErrNoRanges) || errors.Is(err, ErrNoValidator) ||
		errors.Is(err, ErrChanged) || errors.Is(err, ErrTooSlow) {
		return true
	}
	// Not net.Error: syscall.Errno satisfies it too, and a missing local
	// file is not a network problem.
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) || errors.As(err, &dns)
}

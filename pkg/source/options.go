package source

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/cdi-functions/cdi-functions/pkg/egress"
)

// Defaults used when the matching Options field is zero.
const (
	// DefaultStallTimeout is how long a transfer may deliver no bytes before
	// the request is cancelled and resumed.
	DefaultStallTimeout = 30 * time.Second
	// DefaultMaxRetries is how many consecutive failed attempts (without a
	// byte of progress in between) are tolerated before giving up.
	DefaultMaxRetries = 8
	// DefaultBackoffBase is the first retry delay; later delays double.
	DefaultBackoffBase = 500 * time.Millisecond
	// DefaultBackoffMax caps one retry delay, including a server's
	// Retry-After.
	DefaultBackoffMax = 30 * time.Second
	// DefaultRedirects is the number of redirects an HTTP request follows.
	DefaultRedirects = 10
	// DefaultMinRate is the slowest transfer tolerated, in bytes per
	// second, averaged over DefaultMinRateWindow: 10 KiB/s.
	DefaultMinRate = 10 << 10
	// DefaultMinRateWindow is how long a transfer is measured before it is
	// judged too slow.
	DefaultMinRateWindow = time.Minute
	// DefaultDeadline bounds a whole download, from New to the last byte.
	DefaultDeadline = 24 * time.Hour
	// DefaultS3Region is the signing region used with an S3 endpoint
	// override when Options.S3Region is empty.
	DefaultS3Region = "us-east-1"
)

// Options configure New. The zero value is usable: no credentials, the
// system CA pool, AWS for s3:// URLs and production retry settings.
type Options struct {
	// SecretDir is a mounted Kubernetes Secret holding the files
	// accessKeyId and secretKey: basic-auth user and password for HTTP(S),
	// access key and secret key for S3. Empty means no credentials.
	SecretDir string
	// CertDir is a directory of PEM CA bundles (any regular file) added to
	// the system pool for HTTPS and S3. Empty means the system pool only.
	CertDir string
	// S3Endpoint overrides the S3 service, e.g. http://127.0.0.1:9000; its
	// scheme decides TLS and path-style bucket addressing is used. Empty
	// means AWS.
	S3Endpoint string
	// S3Region is the signing region. Empty means DefaultS3Region with an
	// endpoint override, and the bucket's own region (looked up) on AWS.
	S3Region string
	// Stdin is read for the source "-" (or "stdin:").
	Stdin io.Reader

	// StallTimeout is how long a transfer may deliver no bytes before it
	// is cancelled and resumed. Zero means DefaultStallTimeout.
	StallTimeout time.Duration
	// MaxRetries bounds consecutive failed attempts without progress. Zero
	// means DefaultMaxRetries; negative means no retries.
	MaxRetries int
	// BackoffBase is the first retry delay; delays double per consecutive
	// failure with jitter. Zero means DefaultBackoffBase.
	BackoffBase time.Duration
	// BackoffMax caps one retry delay, Retry-After included. Zero means
	// DefaultBackoffMax.
	BackoffMax time.Duration
	// MinRate is the slowest a transfer may be, in bytes per second,
	// averaged over MinRateWindow of the time readers spend waiting for
	// the source (connecting, retrying and receiving; not the time the
	// caller takes between reads). A slower transfer fails with
	// ErrTooSlow, so a server that trickles a byte now and then cannot hold
	// a download forever. Zero means DefaultMinRate; negative means no
	// minimum.
	MinRate int64
	// MinRateWindow is the span MinRate is averaged over. Zero means
	// DefaultMinRateWindow.
	MinRateWindow time.Duration
	// Deadline bounds the whole download, from New until the last byte is
	// read: afterwards every request and read fails with ErrDeadline. Zero
	// means DefaultDeadline; negative means none.
	Deadline time.Duration

	// Egress decides which addresses HTTP(S) and S3 sources may connect
	// to: it is checked at dial time for every connection (after DNS and
	// on every redirect), and beforehand for URLs whose host is a literal
	// address. Through a proxy (HTTP_PROXY, HTTPS_PROXY) the dialer sees
	// the proxy's address, which must then be allowed, and a host name is
	// resolved by the proxy, out of the policy's reach. A refusal is final
	// (Retryable is false) and names the address. Nil means
	// egress.Default(), which refuses loopback and link-local addresses
	// (cloud metadata) among others; tests with loopback servers allow
	// them explicitly.
	Egress *egress.Policy

	// Logger receives retry and resume notices. Nil means no logging.
	Logger *zap.Logger
}

// retryPolicy is the resolved form of the tuning fields of Options.
type retryPolicy struct {
	stall      time.Duration
	maxRetries int
	base       time.Duration
	max        time.Duration
	log        *zap.Logger

	// minRate (bytes/s, 0: none) over rateWindow; see Options.MinRate.
	minRate    int64
	rateWindow time.Duration
	// deadline ends the download (zero: none) with deadlineErr; see
	// Options.Deadline.
	deadline    time.Time
	deadlineErr error
}

// policy resolves the tuning fields; the deadline starts now.
func (o Options) policy() retryPolicy {
	p := retryPolicy{
		stall:      o.StallTimeout,
		maxRetries: o.MaxRetries,
		base:       o.BackoffBase,
		max:        o.BackoffMax,
		log:        o.Logger,
		minRate:    o.MinRate,
		rateWindow: o.MinRateWindow,
	}
	switch {
	case p.minRate == 0:
		p.minRate = DefaultMinRate
	case p.minRate < 0:
		p.minRate = 0
	}
	if p.rateWindow <= 0 {
		p.rateWindow = DefaultMinRateWindow
	}
	if d := o.Deadline; d >= 0 {
		if d == 0 {
			d = DefaultDeadline
		}
		p.deadline = time.Now().Add(d)
		p.deadlineErr = fmt.Errorf("the download took longer than %s: %w", d, ErrDeadline)
	}
	if p.stall <= 0 {
		p.stall = DefaultStallTimeout
	}
	switch {
	case p.maxRetries == 0:
		p.maxRetries = DefaultMaxRetries
	case p.maxRetries < 0:
		p.maxRetries = 0
	}
	if p.base <= 0 {
		p.base = DefaultBackoffBase
	}
	if p.max <= 0 {
		p.max = DefaultBackoffMax
	}
	if p.max < p.base {
		p.max = p.base
	}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	return p
}

// withDeadline returns ctx bounded by the download's deadline, whose cause
// is ErrDeadline.
func (p *retryPolicy) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if p.deadline.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadlineCause(ctx, p.deadline, p.deadlineErr)
}

// egressPolicy is o.Egress, or the default policy.
func (o Options) egressPolicy() *egress.Policy {
	if o.Egress == nil {
		return egress.Default()
	}
	return o.Egress
}

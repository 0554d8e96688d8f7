package source

import (
	"io"
	"time"

	"go.uber.org/zap"
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
}

func (o Options) policy() retryPolicy {
	p := retryPolicy{
		stall:      o.StallTimeout,
		maxRetries: o.MaxRetries,
		base:       o.BackoffBase,
		max:        o.BackoffMax,
		log:        o.Logger,
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

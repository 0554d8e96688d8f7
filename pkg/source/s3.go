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

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cdi-functions/cdi-functions/pkg/egress"
	"github.com/cdi-functions/cdi-functions/pkg/redact"
)

// awsEndpoint is the S3 service used without Options.S3Endpoint.
const awsEndpoint = "s3.amazonaws.com"

// s3Source reads one object of an S3 store through minio-go's Core API:
// one plain GET per attempt, so the resuming reader sees the body and its
// headers directly.
type s3Source struct {
	core        *minio.Core
	bucket, key string
	name        string // s3://bucket/key
	certDir     string
	transport   *http.Transport
	pol         retryPolicy

	size int64
	etag string
}

var _ Source = (*s3Source)(nil)

func newS3(ctx context.Context, u *url.URL, opts Options) (*s3Source, error) {
	if u.User != nil {
		return nil, fmt.Errorf("source %s: %w", redact.URL(u), ErrCredentialsInURL)
	}
	bucket, key := u.Host, strings.TrimPrefix(u.Path, "/")
	if bucket == "" || key == "" {
		return nil, errors.New("S3 URL must be s3://bucket/key")
	}
	creds, err := loadCredentials(opts.SecretDir)
	if err != nil {
		return nil, err
	}
	pol := opts.egressPolicy()
	tr, err := newTransport(opts.CertDir, pol)
	if err != nil {
		return nil, err
	}
	mo := &minio.Options{
		Creds:      miniocreds.NewStaticV4("", "", ""), // anonymous
		Secure:     true,
		Transport:  tr,
		Region:     opts.S3Region,
		MaxRetries: 1, // the resuming reader retries, knowing the offset
	}
	if creds != nil {
		mo.Creds = miniocreds.NewStaticV4(creds.user, creds.password, "")
	}
	endpoint := awsEndpoint
	if opts.S3Endpoint != "" {
		e, err := url.Parse(opts.S3Endpoint)
		switch {
		case err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || strings.Trim(e.Path, "/") != "":
			return nil, fmt.Errorf("S3 endpoint %q must be http(s)://host[:port]", redact.String(opts.S3Endpoint))
		case e.User != nil:
			return nil, fmt.Errorf("S3 endpoint %s: %w", redact.URL(e), ErrCredentialsInURL)
		}
		if err := pol.CheckURL(e); err != nil {
			return nil, fmt.Errorf("S3 endpoint %s: %w", redact.URL(e), err)
		}
		endpoint, mo.Secure, mo.BucketLookup = e.Host, e.Scheme == "https", minio.BucketLookupPath
		if mo.Region == "" {
			mo.Region = DefaultS3Region
		}
	}
	client, err := minio.New(endpoint, mo)
	if err != nil {
		return nil, fmt.Errorf("S3 client for %s: %w", endpoint, err)
	}
	s := &s3Source{
		core:      &minio.Core{Client: client},
		bucket:    bucket,
		key:       key,
		name:      "s3://" + bucket + "/" + key,
		certDir:   opts.CertDir,
		transport: tr,
		pol:       opts.policy(),
		size:      -1,
	}
	ctx, cancel := s.pol.withDeadline(ctx)
	defer cancel()
	if err := s.pol.retry(ctx, s.name, s.stat); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *s3Source) stat(ctx context.Context) error {
	info, err := s.core.StatObject(ctx, s.bucket, s.key, minio.StatObjectOptions{})
	if err != nil {
		return s.error("stat "+s.name, err)
	}
	s.size, s.etag = info.Size, info.ETag
	return nil
}

// Open implements Source.
func (s *s3Source) Open(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	end, empty, err := resolveRange(s.name, s.size, s.Ranges(), off, length)
	if err != nil {
		return nil, err
	}
	if empty {
		return io.NopCloser(strings.NewReader("")), nil
	}
	return openResuming(ctx, s, &s.pol, off, end)
}

// Size implements Source.
func (s *s3Source) Size() int64 { return s.size }

// Ranges implements Source: ranges are used when the object has an ETag,
// which every request then must match (If-Match).
func (s *s3Source) Ranges() bool { return s.etag != "" }

// String implements Source.
func (s *s3Source) String() string { return s.name }

// Close releases idle connections.
func (s *s3Source) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// resumable implements rangeOpener.
func (s *s3Source) resumable() error {
	if s.etag == "" {
		return ErrNoValidator
	}
	return nil
}

// openRange implements rangeOpener. If-Match on the ETag seen by the stat
// makes a replaced object fail instead of splicing two versions.
func (s *s3Source) openRange(ctx context.Context, off, end int64) (io.ReadCloser, int64, error) {
	what := "get " + s.name
	var opts minio.GetObjectOptions
	ranged := off > 0 || (end >= 0 && end < s.size)
	if ranged {
		opts.Set("Range", rangeHeader(off, end))
	}
	if s.etag != "" {
		if err := opts.SetMatchETag(s.etag); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", what, err)
		}
	}
	body, info, h, err := s.core.GetObject(ctx, s.bucket, s.key, opts)
	if err != nil {
		return nil, 0, s.error(what, err)
	}
	if s.etag != "" && info.ETag != "" && info.ETag != s.etag {
		_ = body.Close()
		return nil, 0, fmt.Errorf("%s: ETag %q, was %q: %w", what, info.ETag, s.etag, ErrChanged)
	}
	if h.Get("Content-Range") != "" {
		want, err := checkPartial(what, h, off, end, s.size)
		if err != nil {
			_ = body.Close()
			return nil, 0, err
		}
		return body, want, nil
	}
	if off != 0 {
		_ = body.Close()
		return nil, 0, fmt.Errorf("%s: whole object sent for %s: %w", what, rangeHeader(off, end), ErrNoRanges)
	}
	if s.size >= 0 && info.Size != s.size {
		_ = body.Close()
		return nil, 0, fmt.Errorf("%s: size %d, was %d: %w", what, info.Size, s.size, ErrChanged)
	}
	return body, info.Size, nil
}

// error maps a minio-go failure to this package's errors.
func (s *s3Source) error(what string, err error) error {
	resp := minio.ToErrorResponse(err)
	detail := fmt.Sprintf("S3 %s", resp.Code)
	if resp.Message != "" {
		detail += ": " + resp.Message
	}
	switch resp.Code {
	case "NoSuchKey", "NoSuchBucket", "NotFound":
		return fmt.Errorf("%s: %w (%s)", what, ErrNotFound, detail)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
		"InvalidToken", "ExpiredToken", "InvalidSecurity", "AccountProblem":
		return fmt.Errorf("%s: %w (%s)", what, ErrAccessDenied, detail)
	case "PreconditionFailed":
		return fmt.Errorf("%s: %w (%s)", what, ErrChanged, detail)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound:
		return fmt.Errorf("%s: %w (HTTP %d)", what, ErrNotFound, code)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%s: %w (HTTP %d)", what, ErrAccessDenied, code)
	case code == http.StatusPreconditionFailed:
		return fmt.Errorf("%s: %w (HTTP %d)", what, ErrChanged, code)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return transient(fmt.Errorf("%s: %s (HTTP %d)", what, detail, code), 0)
	case code != 0:
		return fmt.Errorf("%s: %s (HTTP %d)", what, detail, code)
	}
	// No HTTP answer: a transport failure.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded), errors.Is(err, egress.ErrDenied):
		return fmt.Errorf("%s: %w", what, err)
	case tlsError(err):
		return fmt.Errorf("%s: TLS verification failed: %w (%s)", what, err, tlsHint(s.certDir))
	case errors.As(err, &dns) && dns.IsNotFound:
		return fmt.Errorf("%s: %w", what, err)
	default:
		return transient(fmt.Errorf("%s: %w", what, err), 0)
	}
}

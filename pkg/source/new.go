package source

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// New returns the Source for rawURL:
//
//   - http://… and https://… (basic auth from Options.SecretDir, never
//     from the URL; CAs from Options.CertDir, proxies from the
//     environment);
//   - s3://bucket/key (keys from Options.SecretDir, anonymous without);
//   - file:///path or a plain path;
//   - "-" or "stdin:" for Options.Stdin.
//
// Remote sources are probed once (with retries) to learn Size and Ranges,
// so a missing object (ErrNotFound) or refused credentials
// (ErrAccessDenied) show here, and so does an address the egress policy
// refuses (egress.ErrDenied). Other schemes fail with
// ErrUnsupportedScheme. Sources that hold descriptors or connections
// implement io.Closer.
func New(ctx context.Context, rawURL string, opts Options) (Source, error) {
	if rawURL == "-" || rawURL == "stdin:" {
		if opts.Stdin == nil {
			return nil, errors.New("source is standard input but no stdin reader was given")
		}
		return newStream("stdin", opts.Stdin, nil), nil
	}
	if rawURL == "" {
		return nil, errors.New("empty source URL")
	}
	if !strings.Contains(rawURL, "://") && !strings.HasPrefix(rawURL, "file:") {
		return newFile(rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse quotes the input, which may hold credentials.
		return nil, errors.New("source is not a valid URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		u.Scheme = strings.ToLower(u.Scheme)
		return newHTTP(ctx, u, opts)
	case "s3":
		return newS3(ctx, u, opts)
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("file URL names host %q; only local files are supported", u.Host)
		}
		if u.Path == "" {
			return nil, errors.New("file URL has no path")
		}
		return newFile(u.Path)
	default:
		return nil, fmt.Errorf("scheme %q: %w", u.Scheme, ErrUnsupportedScheme)
	}
}

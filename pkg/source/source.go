// Package source opens the places image bytes come from: HTTP(S) servers
// (with range requests, resume and stall timeouts), S3 object stores, local
// files and standard input.
//
// Remote sources are read defensively, since the URL comes from a user:
//
//   - every connection is checked against an egress policy
//     (Options.Egress, pkg/egress) by the dialer, after DNS resolution and
//     on every redirect, before it connects; a refusal is final;
//   - credentials in the URL are refused (ErrCredentialsInURL): they belong
//     in the mounted Secret;
//   - redirects go to http or https only and never from https to http
//     (ErrRedirect);
//   - requests accept the identity encoding only, and an answer with
//     another Content-Encoding is refused (ErrContentEncoding);
//   - ranges and resumes are used only when the first answer carried a
//     validator (a strong ETag or Last-Modified; an ETag for S3), so two
//     versions of an object are never spliced (ErrChanged, ErrNoValidator);
//   - a transfer slower than Options.MinRate fails (ErrTooSlow), and the
//     whole download ends at Options.Deadline (ErrDeadline);
//   - URLs in messages and logs carry no user info and no query (Redact).
package source

import (
	"context"
	"io"
)

// Source is where the bytes of an image come from.
//
// A Source is safe for concurrent use: several readers returned by Open may
// be in flight at once (the qcow2 reader issues parallel range requests).
type Source interface {
	// Open returns a reader of length bytes starting at off. A negative
	// length means "to the end". Sources without range support (Ranges
	// reports false) accept only off == 0 and length < 0.
	//
	// The returned reader hides transient failures: when a connection drops
	// or stalls, a range-capable source resumes from the last byte received
	// (bounded retries with backoff), never from zero.
	Open(ctx context.Context, off, length int64) (io.ReadCloser, error)
	// Size is the total size in bytes, or -1 when it is not known.
	Size() int64
	// Ranges reports whether Open accepts offsets and lengths.
	Ranges() bool
	// String names the source for messages, never including credentials.
	String() string
}

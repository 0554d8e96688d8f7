// Package source opens the places image bytes come from: HTTP(S) servers
// (with range requests, resume and stall timeouts), S3 object stores, local
// files and standard input.
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

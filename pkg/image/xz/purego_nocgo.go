//go:build !cgo

package xz

import "io"

// NewReader returns a reader of the decompressed content of the xz data in r:
// one or more concatenated streams, each of one or more blocks, with optional
// stream padding. Errors from the returned reader wrap one of this package's
// sentinel errors, or the error r returned. Close must be called; it does not
// close r. The reader is not safe for concurrent use.
func NewReader(r io.Reader, opts Options) (io.ReadCloser, error) {
	return newPureGo(r, opts)
}

// Implementation names the decoder compiled in.
func Implementation() string {
	return "therootcompany/xz (pure Go)"
}

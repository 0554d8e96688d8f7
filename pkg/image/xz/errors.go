package xz

import "errors"

// The errors a Reader returns wrap one of these, so callers can tell a damaged
// download (ErrTruncated, ErrCorrupt) from input of the wrong kind (ErrFormat)
// or beyond this decoder's limits (ErrMemLimit, ErrUnsupported).
var (
	// ErrFormat reports input that does not start with an xz stream header,
	// such as a legacy .lzma file or data that is not compressed at all.
	ErrFormat = errors.New("xz: input is not in the xz format")
	// ErrCorrupt reports a damaged stream: a failed integrity check, an
	// invalid header, index or compressed data, or data after the last stream
	// that is neither stream padding nor another stream.
	ErrCorrupt = errors.New("xz: compressed data is corrupt")
	// ErrTruncated reports input that ended inside a stream, including empty
	// input.
	ErrTruncated = errors.New("xz: unexpected end of input")
	// ErrMemLimit reports a stream that needs more memory to decode than
	// Options.MemLimit allows.
	ErrMemLimit = errors.New("xz: memory limit exceeded")
	// ErrUnsupported reports a valid stream that uses a filter, option or
	// integrity check this decoder does not support.
	ErrUnsupported = errors.New("xz: unsupported stream options")
	// ErrClosed reports a Read after Close.
	ErrClosed = errors.New("xz: reader is closed")
)

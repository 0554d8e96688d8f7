package clonestream

import (
	"errors"
	"fmt"
)

// ErrProtocol reports a stream that breaks the wire format: a record out
// of order, a length past the declared size, an unsafe path, a bad frame.
// Retrying the same stream cannot help.
var ErrProtocol = errors.New("clone stream violates the protocol")

// ErrDigest reports content whose digest does not match the trailer's.
var ErrDigest = errors.New("clone digest mismatch")

// ErrUnauthorized reports a source that did not present the clone's
// credential (on the target), or a target that refused ours (on the
// source).
var ErrUnauthorized = errors.New("clone credential refused")

// ErrRefused reports a transfer the other end refused for good (the
// target too small, a kind it cannot hold); the message is the other
// end's.
var ErrRefused = errors.New("clone refused")

// protocolError wraps ErrProtocol with what was wrong.
func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// TransportError is a failure of the connection (cut, reset, stalled):
// the transfer may go on over a new one.
type TransportError struct{ Err error }

// Error implements error.
func (e *TransportError) Error() string { return "clone connection: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// transport wraps a connection error (nil stays nil).
func transport(err error) error {
	if err == nil {
		return nil
	}
	var te *TransportError
	if errors.As(err, &te) {
		return err
	}
	return &TransportError{Err: err}
}

// Retryable reports whether err may pass over a new connection.
func Retryable(err error) bool {
	var te *TransportError
	return errors.As(err, &te)
}

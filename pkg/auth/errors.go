package auth

import (
	"errors"
	"fmt"
)

// ErrUnauthenticated marks a request whose sender could not be
// established: no token, a malformed, tampered, expired or revoked one, or
// one for another audience. Answered 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrForbidden marks a request from a known sender that may not ask for
// it. Answered 403.
var ErrForbidden = errors.New("forbidden")

// Forbidden wraps a reason into an error that matches ErrForbidden.
func Forbidden(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrForbidden, fmt.Sprintf(format, args...))
}

// unauthenticated wraps a reason into an error that matches
// ErrUnauthenticated.
func unauthenticated(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthenticated, fmt.Sprintf(format, args...))
}

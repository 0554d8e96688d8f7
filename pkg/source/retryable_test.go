package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("get: %w", ErrNotFound), false},
		{fmt.Errorf("get: %w", ErrAccessDenied), false},
		{ErrUnsupportedScheme, false},
		{errors.New("qcow2: backing file"), false},
		{fmt.Errorf("read: %w", ErrStalled), true},
		{fmt.Errorf("read: %w", ErrNoRanges), true},
		{fmt.Errorf("read: %w", ErrChanged), true},
		{transient(errors.New("HTTP 503"), 0), true},
		{fmt.Errorf("giving up: %w", transient(errors.New("HTTP 503"), 0)), true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{&net.DNSError{Err: "no such host", Name: "x"}, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Retryable(tt.err), tt.err.Error())
	}
}

func TestRetryableLocalErrors(t *testing.T) {
	_, err := New(context.Background(), "/no/such/file", Options{})
	assert.False(t, Retryable(err), "a missing file is not retryable: %v", err)
}

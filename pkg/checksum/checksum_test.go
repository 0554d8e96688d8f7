package checksum

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	sha := sha256.Sum256([]byte("x"))
	tests := []struct {
		in      string
		wantAlg string
		wantErr string
	}{
		{in: "sha256:" + hex.EncodeToString(sha[:]), wantAlg: "sha256"},
		{in: "SHA256:" + hex.EncodeToString(sha[:]), wantAlg: "sha256"},
		{in: "md5:d41d8cd98f00b204e9800998ecf8427e", wantAlg: "md5"},
		{in: "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", wantAlg: "sha1"},
		{in: "sha256", wantErr: "want ALG:HEX"},
		{in: "crc32:00000000", wantErr: "unknown algorithm"},
		{in: "md5:zz", wantErr: "not hexadecimal"},
		{in: "sha256:abcd", wantErr: "64 hex digits"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := Parse(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantAlg, s.Algorithm)
		})
	}
}

func TestVerifier(t *testing.T) {
	data := make([]byte, 5*chunk+123)
	_, err := rand.Read(data)
	require.NoError(t, err)
	sum := sha512.Sum512(data)
	good := Spec{Algorithm: "sha512", Sum: sum[:]}

	// Odd write sizes cross chunk boundaries.
	v := NewVerifier(good)
	for p := data; len(p) > 0; {
		n := min(len(p), 77777)
		_, _ = v.Write(p[:n])
		p = p[n:]
	}
	require.NoError(t, v.Verify())

	bad := Spec{Algorithm: "sha512", Sum: append([]byte{}, sum[:]...)}
	bad.Sum[0] ^= 1
	v = NewVerifier(bad)
	_, _ = v.Write(data)
	err = v.Verify()
	require.ErrorIs(t, err, ErrMismatch)
	assert.Contains(t, err.Error(), "of 5243003 source bytes")
}

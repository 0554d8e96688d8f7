package tus

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseOffset(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "1048576", want: 1 << 20},
		{in: "9223372036854775807", want: 1<<63 - 1},
		{in: "9223372036854775808", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
		{in: "", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "+1", wantErr: true},
		{in: " 1", wantErr: true},
		{in: "1 ", wantErr: true},
		{in: "01", wantErr: true},
		{in: "1e3", wantErr: true},
		{in: "0x10", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseOffset(tt.in)
			if tt.wantErr {
				assert.ErrorIs(t, err, ErrHeader)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseMetadata(t *testing.T) {
	b := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{name: "empty", in: "", want: map[string]string{}},
		{name: "pairs", in: "filename " + b("disk.qcow2") + ",contentType " + b("archive"),
			want: map[string]string{"filename": "disk.qcow2", "contentType": "archive"}},
		{name: "key alone", in: "is_confidential", want: map[string]string{"is_confidential": ""}},
		{name: "spaces around pairs", in: " a " + b("1") + " , b", want: map[string]string{"a": "1", "b": ""}},
		{name: "duplicate key", in: "a " + b("1") + ",a " + b("2"), wantErr: true},
		{name: "not base64", in: "a !!!", wantErr: true},
		{name: "unpadded base64", in: "a YQ", wantErr: true},
		{name: "empty key", in: ",a", wantErr: true},
		{name: "control character in key", in: "a\x01b", wantErr: true},
		{name: "two values", in: "a " + b("1") + " " + b("2"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMetadata(tt.in)
			if tt.wantErr {
				assert.ErrorIs(t, err, ErrHeader)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := ParseMetadata(FormatMetadata(got))
			require.NoError(t, err)
			assert.Equal(t, got, again, "FormatMetadata round-trips")
		})
	}
}

func TestParseChecksum(t *testing.T) {
	sum := sha256.Sum256([]byte("chunk"))
	good := "sha256 " + base64.StdEncoding.EncodeToString(sum[:])
	c, err := ParseChecksum(good)
	require.NoError(t, err)
	assert.Equal(t, "sha256", c.Algorithm)
	h := c.Hash()
	h.Write([]byte("chunk"))
	assert.Equal(t, sum[:], h.Sum(nil))

	for _, bad := range []string{"", "sha256", "crc32 AAAA", "sha1 " + base64.StdEncoding.EncodeToString(sum[:]), "sha256 ***"} {
		_, err := ParseChecksum(bad)
		assert.ErrorIs(t, err, ErrHeader, bad)
	}
}

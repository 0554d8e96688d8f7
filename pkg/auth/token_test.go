package auth

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenAudience(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		want    string
		wantErr string
	}{
		{name: "string", token: jwt(t, map[string]any{"aud": "eventing.knative.dev/broker/cdi/default"}), want: "eventing.knative.dev/broker/cdi/default"},
		{name: "list: the first", token: jwt(t, map[string]any{"aud": []string{"a", "b"}}), want: "a"},
		{name: "surrounding space", token: " " + jwt(t, map[string]any{"aud": "a"}) + "\n", want: "a"},
		{name: "no audience", token: jwt(t, map[string]any{"sub": "x"}), wantErr: "no audience"},
		{name: "empty list", token: jwt(t, map[string]any{"aud": []string{}}), wantErr: "no audience"},
		{name: "not a JWT", token: "opaque", wantErr: "not a JWT"},
		{name: "payload not base64", token: "a.%%%.c", wantErr: "not a JWT"},
		{name: "payload not JSON", token: "a.bm90IGpzb24.c", wantErr: "not a JWT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TokenAudience(tt.token)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestOptionalFileToken(t *testing.T) {
	dir := t.TempDir()
	assert.Nil(t, OptionalFileToken(filepath.Join(dir, "missing")), "no file, no token")

	p := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(p, []byte("sink-token\n"), 0o600))
	tok := OptionalFileToken(p)
	require.NotNil(t, tok)
	got, err := tok()
	require.NoError(t, err)
	assert.Equal(t, "sink-token", got)
}

package source

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// TestRedirectAuth checks that basic auth follows a redirect only to the
// same host and port. Go's own client would also send it to another port
// of the same host; 127.0.0.1 and 127.0.0.2 are different hosts to both.
func TestRedirectAuth(t *testing.T) {
	data := testData(300000)
	tests := []struct {
		name       string
		targetAddr string
	}{
		{name: "another host", targetAddr: "127.0.0.2:0"},
		{name: "another port of the same host", targetAddr: "127.0.0.1:0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := sourcetest.NewServer(t, sourcetest.Config{Data: data, Addr: tc.targetAddr})
			front := sourcetest.NewServer(t, sourcetest.Config{User: "alice", Password: "pw", RedirectTo: target.URL})
			opts := fastOptions()
			opts.SecretDir = sourcetest.WriteSecretDir(t, "alice", "pw")
			src, err := New(context.Background(), front.URL+"/img", opts)
			require.NoError(t, err)
			got, err := readAll(t, src)
			require.NoError(t, err)
			require.True(t, string(data) == string(got))

			for _, r := range front.Requests() {
				assert.True(t, r.Authorization, "the first host gets the credentials")
				assert.Equal(t, http.StatusFound, r.Status)
			}
			require.NotEmpty(t, target.Requests())
			for _, r := range target.Requests() {
				assert.False(t, r.Authorization, "credentials leaked to %s", target.URL)
				assert.Equal(t, "/img", r.Path)
			}
		})
	}

	t.Run("same host and port keeps auth", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.Handle("/old", http.RedirectHandler("/new", http.StatusMovedPermanently))
		mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "", testModTime, bytesReader(data))
		})
		srv := sourcetest.NewServer(t, sourcetest.Config{Handler: mux, User: "alice", Password: "pw"})
		opts := fastOptions()
		opts.SecretDir = sourcetest.WriteSecretDir(t, "alice", "pw")
		src, err := New(context.Background(), srv.URL+"/old", opts)
		require.NoError(t, err)
		got, err := readAll(t, src)
		require.NoError(t, err)
		require.True(t, string(data) == string(got))
		for _, r := range srv.Requests() {
			assert.True(t, r.Authorization)
		}
	})
}

func TestSameAuthority(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"http://h/x", "http://h/y", true},
		{"http://h/x", "http://H:80/y", true},
		{"http://h/x", "https://h/y", true},
		{"https://h/x", "http://h/y", false},
		{"http://h:8080/x", "https://h:8443/y", false},
		{"http://h:1/x", "http://h:2/y", false},
		{"http://h/x", "http://sub.h/y", false},
		{"http://127.0.0.1/x", "http://127.0.0.2/x", false},
	}
	for _, tc := range tests {
		a, err := url.Parse(tc.a)
		require.NoError(t, err)
		b, err := url.Parse(tc.b)
		require.NoError(t, err)
		assert.Equalf(t, tc.want, sameAuthority(a, b), "%s -> %s", tc.a, tc.b)
	}
}

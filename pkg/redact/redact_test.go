package redact

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://bob:pw@images.example/disk.img?X-Amz-Signature=abc&X-Amz-Credential=k", "https://images.example/disk.img?…"},
		{"http://images.example/disk.img#frag", "http://images.example/disk.img"},
		{"http://images.example/disk.img?", "http://images.example/disk.img?…"},
		{"s3://bucket/key", "s3://bucket/key"},
		{"/var/images/disk.img", "/var/images/disk.img"},
		{"-", "-"},
		{"http://bob:pw@[::1", "(invalid URL)"},
		{"AKIAEXAMPLE:s3cret@minio:9000", Hidden},
		{"minio:9000", "minio:9000"},
		{"key:s3cret@minio://x", Hidden},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, String(tt.in), tt.in)
	}
}

// FuzzString: whatever the input, a password in a URL's user info is
// never shown.
func FuzzString(f *testing.F) {
	f.Add("https://bob:pw@images.example/disk.img?sig=1")
	f.Add("key:s3cret@minio:9000")
	f.Add("s3://b/k")
	f.Add("A://0A:///0@@0@@")
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		_, rest, ok := strings.Cut(s, "://")
		if !ok {
			if strings.Contains(s, "@") && out != Hidden {
				t.Fatalf("String(%q) = %q: text with user info is hidden", s, out)
			}
			return
		}
		// The authority ends at the first "/", "?" or "#"; user info is
		// what precedes its last "@".
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			rest = rest[:i]
		}
		at := strings.LastIndex(rest, "@")
		if at < 0 {
			return
		}
		if _, pw, ok := strings.Cut(rest[:at], ":"); ok && len(pw) >= 6 && strings.Contains(out, pw) &&
			!strings.Contains(String(strings.ReplaceAll(s, pw, "")), pw) {
			t.Fatalf("String(%q) = %q shows %q", s, out, pw)
		}
	})
}

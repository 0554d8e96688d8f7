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
		{"/://user:s3cret@host", Hidden},
		{"https://images.example/by/user@example.org/disk.img", "https://images.example/by/user@example.org/disk.img"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, String(tt.in), tt.in)
	}
}

// FuzzString: whatever the input, what String shows does not depend on a
// URL's user info: it is the same as for the URL without it.
func FuzzString(f *testing.F) {
	f.Add("https://bob:pw@images.example/disk.img?sig=1")
	f.Add("key:s3cret@minio:9000")
	f.Add("s3://b/k")
	f.Add("A://0A:///0@@0@@")
	f.Add("A://:0000000000000000000000000000000@00000000000000000000000000000000")
	f.Add("/://user:s3cret@host")
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		scheme, rest, ok := strings.Cut(s, "://")
		if !ok {
			if strings.Contains(s, "@") && out != Hidden {
				t.Fatalf("String(%q) = %q: text with user info is hidden", s, out)
			}
			return
		}
		// The authority ends at the first "/", "?" or "#"; user info is
		// what precedes its last "@".
		authority := rest
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			authority = rest[:i]
		}
		at := strings.LastIndex(authority, "@")
		if at < 0 || out == Hidden || out == "(invalid URL)" {
			return
		}
		without := scheme + "://" + rest[at+1:]
		if other := String(without); out != other {
			t.Fatalf("String(%q) = %q, but without its user info %q", s, out, other)
		}
	})
}

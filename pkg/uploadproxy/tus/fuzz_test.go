package tus

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzHeaders: the parsers never panic, accept only what they promise,
// and what they accept round-trips.
func FuzzHeaders(f *testing.F) {
	for _, s := range []string{"0", "123", "9223372036854775807", "-1", "01", "filename ZGlzay5xY293Mg==,a", "a YQ==,a YQ==",
		"sha1 2jmj7l5rSw0yVb/vlWAYkK/YBwk=", "md5 1B2M2Y8AsgTpgAmY7PhCfg==", " , ,", "k \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseOffset(s); err == nil {
			if n < 0 || strconv.FormatInt(n, 10) != s {
				t.Fatalf("ParseOffset(%q) = %d", s, n)
			}
		}
		if md, err := ParseMetadata(s); err == nil {
			again, err := ParseMetadata(FormatMetadata(md))
			if err != nil || len(again) != len(md) {
				t.Fatalf("metadata %q does not round-trip: %v", s, err)
			}
			for k, v := range md {
				if again[k] != v || !validKey(k) {
					t.Fatalf("metadata %q: key %q", s, k)
				}
			}
		}
		if c, err := ParseChecksum(s); err == nil {
			if c.Hash() == nil || c.Hash().Size() != len(c.Digest) || !strings.HasPrefix(s, c.Algorithm+" ") {
				t.Fatalf("checksum %q: %+v", s, c)
			}
		}
	})
}

package cloneauth

import (
	"strings"
	"testing"
)

// FuzzVerify feeds arbitrary tokens to the parser and the checks behind
// it: it must never panic, and nothing but the tokens the key signed may
// verify.
func FuzzVerify(f *testing.F) {
	s := newSigner(f)
	v := s.Verifier()
	good, err := s.Sign(grant("uid-1"))
	if err != nil {
		f.Fatal(err)
	}
	atCreate, err := s.Sign(grant(""))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{good, atCreate, "", "v1..", "v1.e30.", "v1." + strings.Repeat("A", 100) + ".AAAA", good + ".x", "v2" + good[2:]} {
		f.Add(seed)
	}
	c := claim("uid-1", issued)
	f.Fuzz(func(t *testing.T, token string) {
		g, err := v.Verify(token, c)
		if err != nil {
			return
		}
		if token != good && token != atCreate {
			t.Fatalf("a token the key did not sign verified: %q -> %+v", token, g)
		}
	})
}

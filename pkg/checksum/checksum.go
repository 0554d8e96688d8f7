// Package checksum verifies the digest of a byte stream while it flows,
// hashing in a goroutine of its own so that a slow hash (sha256 runs at
// ~290 MB/s on CPUs without SHA instructions) overlaps the data path
// instead of adding to it.
package checksum

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// ErrMismatch reports that the data does not have the expected digest.
var ErrMismatch = errors.New("checksum mismatch")

// Spec is an expected digest: an algorithm and its value.
type Spec struct {
	Algorithm string
	Sum       []byte
}

// algorithms maps the names accepted by Parse to their constructors and
// digest sizes.
var algorithms = map[string]struct {
	new  func() hash.Hash
	size int
}{
	"md5":    {md5.New, md5.Size},
	"sha1":   {sha1.New, sha1.Size},
	"sha256": {sha256.New, sha256.Size},
	"sha512": {sha512.New, sha512.Size},
}

// Parse reads "ALG:HEX" where ALG is md5, sha1, sha256 or sha512.
func Parse(s string) (Spec, error) {
	alg, value, ok := strings.Cut(s, ":")
	if !ok {
		return Spec{}, fmt.Errorf("checksum %q: want ALG:HEX with ALG one of md5, sha1, sha256, sha512", s)
	}
	alg = strings.ToLower(alg)
	a, ok := algorithms[alg]
	if !ok {
		return Spec{}, fmt.Errorf("checksum %q: unknown algorithm %q (want md5, sha1, sha256 or sha512)", s, alg)
	}
	sum, err := hex.DecodeString(value)
	if err != nil {
		return Spec{}, fmt.Errorf("checksum %q: value is not hexadecimal: %w", s, err)
	}
	if len(sum) != a.size {
		return Spec{}, fmt.Errorf("checksum %q: %s digests are %d hex digits, got %d", s, alg, 2*a.size, len(value))
	}
	return Spec{Algorithm: alg, Sum: sum}, nil
}

// String formats s as Parse reads it.
func (s Spec) String() string { return s.Algorithm + ":" + hex.EncodeToString(s.Sum) }

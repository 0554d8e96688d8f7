package tus

import (
	"crypto/md5" //nolint:gosec // a transfer check the client chooses, not a security boundary
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"sort"
	"strings"
)

// Limits of what a client may send.
const (
	// MaxMetadata bounds the Upload-Metadata header, in bytes.
	MaxMetadata = 4 << 10
	// maxDigits bounds a decimal offset or length (int64 has 19).
	maxDigits = 19
)

// ErrHeader is wrapped by every parse error.
var ErrHeader = errors.New("invalid tus header")

// ParseOffset reads Upload-Offset or Upload-Length: a non-negative decimal
// integer, digits only (no sign, no spaces, no leading zeros but "0"),
// within int64.
func ParseOffset(s string) (int64, error) {
	if s == "" || len(s) > maxDigits || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%w: %q is not a byte offset", ErrHeader, clip(s))
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q is not a byte offset", ErrHeader, clip(s))
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, fmt.Errorf("%w: %q is too large", ErrHeader, clip(s))
		}
		n = n*10 + d
	}
	return n, nil
}

// ParseMetadata reads Upload-Metadata: comma-separated pairs of a key and,
// after one space, its value in standard base64 (padded); a key alone has
// an empty value. Keys are non-empty, unique, printable ASCII without
// spaces or commas.
func ParseMetadata(s string) (map[string]string, error) {
	md := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return md, nil
	}
	if len(s) > MaxMetadata {
		return nil, fmt.Errorf("%w: Upload-Metadata is longer than %d bytes", ErrHeader, MaxMetadata)
	}
	for pair := range strings.SplitSeq(s, ",") {
		pair = strings.TrimSpace(pair)
		key, val, hasVal := strings.Cut(pair, " ")
		if !validKey(key) {
			return nil, fmt.Errorf("%w: Upload-Metadata key %q", ErrHeader, clip(key))
		}
		if _, dup := md[key]; dup {
			return nil, fmt.Errorf("%w: Upload-Metadata key %q twice", ErrHeader, key)
		}
		var v []byte
		if hasVal {
			var err error
			if v, err = base64.StdEncoding.Strict().DecodeString(val); err != nil {
				return nil, fmt.Errorf("%w: Upload-Metadata value of %q is not base64", ErrHeader, key)
			}
		}
		md[key] = string(v)
	}
	return md, nil
}

// FormatMetadata is the Upload-Metadata header of md, keys sorted. Keys
// that ParseMetadata would refuse are left out.
func FormatMetadata(md map[string]string) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		if validKey(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if md[k] == "" {
			parts = append(parts, k)
			continue
		}
		parts = append(parts, k+" "+base64.StdEncoding.EncodeToString([]byte(md[k])))
	}
	return strings.Join(parts, ",")
}

func validKey(k string) bool {
	if k == "" || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c > '~' || c == ',' {
			return false
		}
	}
	return true
}

// Checksum is a parsed Upload-Checksum: the algorithm and the expected
// digest of the PATCH body.
type Checksum struct {
	Algorithm string
	Digest    []byte
}

// Algorithms is the Tus-Checksum-Algorithm value served.
const Algorithms = "sha1,sha256,md5"

// newHash returns the hash of a supported algorithm.
func newHash(alg string) (hash.Hash, int) {
	switch alg {
	case "sha1":
		return sha1.New(), sha1.Size
	case "sha256":
		return sha256.New(), sha256.Size
	case "md5":
		return md5.New(), md5.Size //nolint:gosec // see the import
	}
	return nil, 0
}

// ParseChecksum reads Upload-Checksum: an algorithm of Algorithms, one
// space, the digest in standard base64 of the algorithm's size.
func ParseChecksum(s string) (Checksum, error) {
	alg, b64, ok := strings.Cut(s, " ")
	if !ok {
		return Checksum{}, fmt.Errorf("%w: Upload-Checksum is not \"algorithm base64\"", ErrHeader)
	}
	_, size := newHash(alg)
	if size == 0 {
		return Checksum{}, fmt.Errorf("%w: checksum algorithm %q is not one of %s", ErrHeader, clip(alg), Algorithms)
	}
	d, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(d) != size {
		return Checksum{}, fmt.Errorf("%w: Upload-Checksum digest is not %d bytes of base64", ErrHeader, size)
	}
	return Checksum{Algorithm: alg, Digest: d}, nil
}

// Hash returns a fresh hash of c's algorithm.
func (c Checksum) Hash() hash.Hash {
	h, _ := newHash(c.Algorithm)
	return h
}

// clip shortens what a client sent before it is repeated in a message.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

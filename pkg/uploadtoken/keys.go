package uploadtoken

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// SecretName is the Secret, in the system namespace, that holds the
// signing keys; the system creates it once.
const SecretName = "cdi-upload-token-keys"

// Secret data layout: CurrentKey names the kid that signs; every
// "<kid>.pem" entry holds one P-256 private key (PKCS #8 PEM). Keys that do
// not sign still verify, which is how a key is rotated out.
const (
	CurrentKey = "current"
	pemSuffix  = ".pem"
)

// Keys is a set of signing keys, one of which signs.
type Keys struct {
	current string
	keys    map[string]*ecdsa.PrivateKey
}

// GenerateKey makes a new P-256 key and returns its kid and its PEM, as a
// Secret entry "<kid>.pem" holds it.
func GenerateKey() (kid string, pemBytes []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", nil, fmt.Errorf("encode key: %w", err)
	}
	return Thumbprint(&k.PublicKey), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// NewSecretData is the data of a new keys Secret: one fresh key, current.
func NewSecretData() (map[string][]byte, error) {
	kid, p, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	return map[string][]byte{CurrentKey: []byte(kid), kid + pemSuffix: p}, nil
}

// ParseKeys reads the keys of a Secret's data. Every key must be a P-256
// key named by its own thumbprint, and the current one must be present.
func ParseKeys(data map[string][]byte) (*Keys, error) {
	ks := &Keys{current: strings.TrimSpace(string(data[CurrentKey])), keys: map[string]*ecdsa.PrivateKey{}}
	names := make([]string, 0, len(data))
	for name := range data {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		kid, ok := strings.CutSuffix(name, pemSuffix)
		if !ok {
			continue
		}
		k, err := parseKey(data[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("key %s: %w", name, err))
			continue
		}
		if t := Thumbprint(&k.PublicKey); t != kid {
			errs = append(errs, fmt.Errorf("key %s: its thumbprint is %s", name, t))
			continue
		}
		ks.keys[kid] = k
	}
	if ks.current == "" {
		errs = append(errs, fmt.Errorf("entry %q names no signing key", CurrentKey))
	} else if ks.keys[ks.current] == nil {
		errs = append(errs, fmt.Errorf("the current key %q is not among the keys", ks.current))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("upload token keys: %w", err)
	}
	return ks, nil
}

// Current is the kid of the signing key.
func (ks *Keys) Current() string { return ks.current }

func parseKey(p []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(p)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS #8: %w", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not a P-256 key")
	}
	return ec, nil
}

// Thumbprint is the RFC 7638 thumbprint of a P-256 public key, base64url:
// the kid of the key.
func Thumbprint(k *ecdsa.PublicKey) string {
	point, err := k.Bytes() // 0x04 || X || Y
	if err != nil || len(point) != 65 {
		return ""
	}
	enc := base64.RawURLEncoding.EncodeToString
	// The required members in lexicographic order, no whitespace (§3.2).
	j, _ := json.Marshal(struct {
		Crv string `json:"crv"`
		Kty string `json:"kty"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}{"P-256", "EC", enc(point[1:33]), enc(point[33:])})
	sum := sha256.Sum256(j)
	return enc(sum[:])
}

package uploadtoken

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// IssuerName and Audience bind tokens to this system's upload proxy.
	IssuerName = "cdi-functions"
	Audience   = "cdi-functions/upload"
	// Lifetime is how long a token is valid after it is issued.
	Lifetime = 5 * time.Minute
	// Leeway is the clock skew verification allows.
	Leeway = 30 * time.Second
)

// claims is the JWT body: the registered claims and the scope.
type claims struct {
	jwt.RegisteredClaims
	Scope
}

// Sign issues a token for scope at now, signed by the current key.
func (ks *Keys) Sign(scope Scope, now time.Time) (string, error) {
	if err := scope.validate(); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return "", fmt.Errorf("sign: token id: %w", err)
	}
	now = now.Truncate(time.Second)
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    IssuerName,
			Audience:  jwt.ClaimStrings{Audience},
			Subject:   scope.Namespace + "/" + scope.Name,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(Lifetime)),
			ID:        base64.RawURLEncoding.EncodeToString(id),
		},
		Scope: scope,
	})
	t.Header["kid"] = ks.current
	s, err := t.SignedString(ks.keys[ks.current])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return s, nil
}

// Verify checks a token's signature (ES256 only, by a key of ks named in
// its header), issuer, audience and lifetime at now, and returns its
// scope. Every refusal wraps ErrInvalid, an expired token also
// ErrExpired; messages never repeat the token.
func (ks *Keys) Verify(token string, now time.Time) (Scope, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := ks.keys[kid]
		if !ok {
			return nil, fmt.Errorf("signed by an unknown key %q", kid)
		}
		return &k.PublicKey, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(IssuerName), jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Scope{}, fmt.Errorf("%w: %w", ErrInvalid, ErrExpired)
	case err != nil:
		return Scope{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.ExpiresAt.Sub(c.IssuedAt.Time) > Lifetime {
		return Scope{}, fmt.Errorf("%w: lifetime %s is longer than %s", ErrInvalid, c.ExpiresAt.Sub(c.IssuedAt.Time), Lifetime)
	}
	if err := c.Scope.validate(); err != nil {
		return Scope{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c.Scope, nil
}

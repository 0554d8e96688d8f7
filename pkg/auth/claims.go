package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxTokenLength bounds a bearer token before anything is done with it
// (projected tokens are about 1 KiB).
const maxTokenLength = 8 << 10

// peek reads the expiry and audiences of a JWT without verifying it. It is
// a cheap filter, not a check: a token that is not a JWT, has expired or
// is for another audience cannot pass a TokenReview either, so it is
// refused without asking the API server (an anonymous flood costs no API
// calls). Whatever passes is verified by the TokenReview.
func peek(token string, now time.Time) (exp time.Time, err error) {
	if len(token) > maxTokenLength {
		return time.Time{}, unauthenticated("token longer than %d bytes", maxTokenLength)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, unauthenticated("token is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, unauthenticated("token is not a JWT: payload is not base64url")
	}
	var claims struct {
		Exp *float64        `json:"exp"`
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return time.Time{}, unauthenticated("token is not a JWT: payload is not JSON")
	}
	if claims.Exp == nil {
		return time.Time{}, unauthenticated("token has no expiry")
	}
	exp = time.Unix(int64(*claims.Exp), 0)
	if !now.Before(exp) {
		return time.Time{}, unauthenticated("token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if !hasAudience(claims.Aud, Audience) {
		return time.Time{}, unauthenticated("token is not for audience %q", Audience)
	}
	return exp, nil
}

// hasAudience reports whether a JWT "aud" claim (a string or a list)
// holds want.
func hasAudience(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return false
	}
	for _, a := range many {
		if a == want {
			return true
		}
	}
	return false
}

// TokenAudience returns the first audience of a JWT, without verifying it:
// for a sender that must ask for tokens of the audience its own sink token
// was issued for (the data pods of a function behind a Broker). Never use
// it to trust a token.
func TokenAudience(token string) (string, error) {
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(token) > maxTokenLength || len(parts) != 3 {
		return "", errors.New("token is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("token is not a JWT: payload: %w", err)
	}
	var claims struct {
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return "", fmt.Errorf("token is not a JWT: payload: %w", err)
	}
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil && one != "" {
		return one, nil
	}
	var many []string
	if json.Unmarshal(claims.Aud, &many) == nil && len(many) > 0 && many[0] != "" {
		return many[0], nil
	}
	return "", errors.New("token has no audience")
}

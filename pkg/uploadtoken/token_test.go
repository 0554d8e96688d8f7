package uploadtoken

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	t0    = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	scope = Scope{Operation: OperationUpload, Namespace: "vms", Name: "disk", UID: "0b6c9d2e"}
)

func newKeys(t *testing.T) (*Keys, map[string][]byte) {
	t.Helper()
	data, err := NewSecretData()
	require.NoError(t, err)
	ks, err := ParseKeys(data)
	require.NoError(t, err)
	return ks, data
}

func TestSignVerify(t *testing.T) {
	ks, _ := newKeys(t)
	tok, err := ks.Sign(scope, t0)
	require.NoError(t, err)

	got, err := ks.Verify(tok, t0.Add(4*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, scope, got)
	assert.True(t, got.Allows(OperationUpload, "vms", "disk", "0b6c9d2e"))
	for _, other := range [][3]string{{"vms", "disk", "another-uid"}, {"vms", "other", "0b6c9d2e"}, {"other", "disk", "0b6c9d2e"}} {
		assert.False(t, got.Allows(OperationUpload, other[0], other[1], other[2]), "opens %v", other)
	}

	// Within the leeway, then expired.
	_, err = ks.Verify(tok, t0.Add(Lifetime+Leeway-time.Second))
	require.NoError(t, err)
	_, err = ks.Verify(tok, t0.Add(Lifetime+Leeway+time.Second))
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorIs(t, err, ErrExpired)
	// Not yet valid (issued in the future beyond the leeway).
	_, err = ks.Verify(tok, t0.Add(-time.Minute))
	require.ErrorIs(t, err, ErrInvalid)
}

func TestVerifyRefuses(t *testing.T) {
	ks, data := newKeys(t)
	good, err := ks.Sign(scope, t0)
	require.NoError(t, err)
	other, _ := newKeys(t)
	foreign, err := other.Sign(scope, t0)
	require.NoError(t, err)

	parts := strings.Split(good, ".")
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	tamperedBody := strings.Replace(string(body), `"pvc":"disk"`, `"pvc":"data"`, 1)
	require.NotEqual(t, string(body), tamperedBody)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tamperedBody)) + "." + parts[2]

	// The same claims signed with HS256, the public key's PEM as secret
	// (algorithm confusion), and with "none".
	k, err := parseKey(data[ks.Current()+pemSuffix])
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	c := claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: IssuerName, Audience: jwt.ClaimStrings{Audience},
		IssuedAt: jwt.NewNumericDate(t0), ExpiresAt: jwt.NewNumericDate(t0.Add(Lifetime))}, Scope: scope}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	hs.Header["kid"] = ks.Current()
	hsTok, err := hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	require.NoError(t, err)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, c)
	none.Header["kid"] = ks.Current()
	noneTok, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)

	sign := func(mutate func(*claims)) string {
		cc := c
		mutate(&cc)
		tk := jwt.NewWithClaims(jwt.SigningMethodES256, cc)
		tk.Header["kid"] = ks.Current()
		s, err := tk.SignedString(k)
		require.NoError(t, err)
		return s
	}
	tests := []struct {
		name, token string
	}{
		{"empty", ""},
		{"garbage", "not.a.token"},
		{"tampered claim", tampered},
		{"signed by another system's key", foreign},
		{"HS256 with the public key as secret", hsTok},
		{"alg none", noneTok},
		{"other audience", sign(func(c *claims) { c.Audience = jwt.ClaimStrings{"kubernetes"} })},
		{"other issuer", sign(func(c *claims) { c.Issuer = "someone" })},
		{"no expiry", sign(func(c *claims) { c.ExpiresAt = nil })},
		{"a lifetime of a day", sign(func(c *claims) { c.ExpiresAt = jwt.NewNumericDate(t0.Add(24 * time.Hour)) })},
		{"another operation", sign(func(c *claims) { c.Operation = "clone" })},
		{"no claim UID", sign(func(c *claims) { c.UID = "" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ks.Verify(tt.token, t0.Add(time.Minute))
			require.ErrorIs(t, err, ErrInvalid)
			if tt.token != "" {
				assert.NotContains(t, err.Error(), tt.token, "the token is never repeated")
			}
		})
	}
}

func TestRotation(t *testing.T) {
	ks, data := newKeys(t)
	old, err := ks.Sign(scope, t0)
	require.NoError(t, err)

	kid, p, err := GenerateKey()
	require.NoError(t, err)
	data[kid+pemSuffix], data[CurrentKey] = p, []byte(kid)
	rotated, err := ParseKeys(data)
	require.NoError(t, err)
	assert.Equal(t, kid, rotated.Current())
	fresh, err := rotated.Sign(scope, t0)
	require.NoError(t, err)
	_, err = rotated.Verify(old, t0.Add(time.Minute))
	require.NoError(t, err, "tokens of the previous key verify until it is removed")
	_, err = rotated.Verify(fresh, t0.Add(time.Minute))
	require.NoError(t, err)

	delete(data, ks.Current()+pemSuffix)
	retired, err := ParseKeys(data)
	require.NoError(t, err)
	_, err = retired.Verify(old, t0.Add(time.Minute))
	require.ErrorIs(t, err, ErrInvalid)
}

func TestParseKeys(t *testing.T) {
	_, data := newKeys(t)
	kid := string(data[CurrentKey])
	tests := []struct {
		name   string
		mutate func(map[string][]byte)
		want   string
	}{
		{"no current", func(d map[string][]byte) { delete(d, CurrentKey) }, "names no signing key"},
		{"current missing", func(d map[string][]byte) { delete(d, kid+pemSuffix) }, "is not among the keys"},
		{"not PEM", func(d map[string][]byte) { d[kid+pemSuffix] = []byte("junk") }, "not a PEM PRIVATE KEY block"},
		{"misnamed", func(d map[string][]byte) { d["other.pem"] = d[kid+pemSuffix] }, "its thumbprint is " + kid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := map[string][]byte{}
			for k, v := range data {
				d[k] = v
			}
			tt.mutate(d)
			_, err := ParseKeys(d)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestSignRefusesIncompleteScopes(t *testing.T) {
	ks, _ := newKeys(t)
	_, err := ks.Sign(Scope{Operation: OperationUpload, Namespace: "vms", Name: "disk"}, t0)
	require.ErrorContains(t, err, "not named fully")
}

// FuzzVerify: no input makes Verify panic or accept a token it did not
// sign.
func FuzzVerify(f *testing.F) {
	data, err := NewSecretData()
	if err != nil {
		f.Fatal(err)
	}
	ks, err := ParseKeys(data)
	if err != nil {
		f.Fatal(err)
	}
	good, err := ks.Sign(scope, t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-3] + "AAA")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		s, err := ks.Verify(tok, t0.Add(time.Minute))
		if err == nil && tok != good {
			// Only a re-encoding of the same signed token can pass.
			assert.Equal(t, scope, s)
		}
	})
}

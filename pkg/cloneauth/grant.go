package cloneauth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

// ErrNotAuthorized is wrapped by every refusal of Verify: the claim carries
// no grant, or one that is forged, malformed or made for another claim or
// source.
var ErrNotAuthorized = errors.New("clone not authorized")

// Token format.
const (
	// version prefixes every token; a future format takes another.
	version = "v1"
	// MaxTokenSize bounds what Verify reads: a grant's token is a few
	// hundred bytes; anything much larger is refused unparsed.
	MaxTokenSize = 4096
)

// Binding window of a grant made at CREATE admission (no UID yet): the
// claim's creation time must lie within [IssuedAt-CreatedBefore,
// IssuedAt+CreatedAfter]. The API server sets creationTimestamp (to the
// second, truncated) just after admission.
const (
	// CreatedBefore allows for the timestamp's truncation and clock skew
	// between webhook replicas and the API server.
	CreatedBefore = 2 * time.Second
	// CreatedAfter allows for the admission chain and storage after the
	// webhook answered.
	CreatedAfter = 60 * time.Second
)

// Grant is what the webhook vouches for: User, who may read Source, asked
// for the target claim to be a clone of it.
type Grant struct {
	// TargetNamespace and TargetName name the claim that is to be filled.
	TargetNamespace string `json:"targetNamespace"`
	TargetName      string `json:"targetName"`
	// TargetUID is the claim's UID, or empty for a grant made at CREATE
	// admission (the API server assigns the UID afterwards); the grant is
	// then bound by the claim's creation time instead.
	TargetUID string `json:"targetUID,omitempty"`
	// Source is the CloneRequest value the grant was made for,
	// "namespace/name".
	Source string `json:"source"`
	// User is the name of the user whose permissions were checked.
	User string `json:"user"`
	// IssuedAt is when the webhook made the grant.
	IssuedAt time.Time `json:"issuedAt"`
}

// Signer makes grants' tokens with an Ed25519 private key.
type Signer struct {
	key ed25519.PrivateKey
}

// NewSigner returns a Signer for key, which must be a whole Ed25519
// private key.
func NewSigner(key ed25519.PrivateKey) (*Signer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("an ed25519 private key has %d bytes, not %d", ed25519.PrivateKeySize, len(key))
	}
	return &Signer{key: key}, nil
}

// Sign returns g's token.
func (s *Signer) Sign(g Grant) (string, error) {
	payload, err := json.Marshal(g)
	if err != nil {
		return "", fmt.Errorf("encode the clone grant: %w", err)
	}
	input := version + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig := ed25519.Sign(s.key, []byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// Verifier returns the Verifier of the Signer's tokens.
func (s *Signer) Verifier() *Verifier {
	return &Verifier{key: s.key.Public().(ed25519.PublicKey)}
}

// Verifier checks grants' tokens with an Ed25519 public key.
type Verifier struct {
	key ed25519.PublicKey
}

// NewVerifier returns a Verifier for key, which must be an Ed25519 public
// key.
func NewVerifier(key ed25519.PublicKey) (*Verifier, error) {
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("an ed25519 public key has %d bytes, not %d", ed25519.PublicKeySize, len(key))
	}
	return &Verifier{key: key}, nil
}

// Verify checks that token is a grant this Verifier's key signed for
// claim as it is now: same namespace and name, same source as the claim's
// CloneRequest, and the same UID or, for a grant made at creation, a
// creation time within [IssuedAt-CreatedBefore, IssuedAt+CreatedAfter].
// Every refusal wraps ErrNotAuthorized and says, in a sentence fit for a
// Kubernetes Event, what does not match.
func (v *Verifier) Verify(token string, claim *corev1.PersistentVolumeClaim) (Grant, error) {
	g, err := v.parse(token)
	if err != nil {
		return Grant{}, err
	}
	if err := g.matches(claim); err != nil {
		return Grant{}, err
	}
	return g, nil
}

// parse checks the token's form and signature, then decodes the grant.
// Nothing of the payload is decoded before the signature verifies.
func (v *Verifier) parse(token string) (Grant, error) {
	refuse := func(why string, args ...any) (Grant, error) {
		return Grant{}, fmt.Errorf("%w: the %s annotation %s", ErrNotAuthorized, annotations.CloneAuthorization, fmt.Sprintf(why, args...))
	}
	switch {
	case token == "":
		return refuse("is missing (the admission webhook clone.cdi-functions.io writes it; is it installed?)")
	case len(token) > MaxTokenSize:
		return refuse("is longer than %d bytes", MaxTokenSize)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return refuse("is not a clone grant (want %s.<payload>.<signature>)", version)
	}
	if parts[0] != version {
		return refuse("has version %q, not %s", parts[0], version)
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return refuse("has a payload that is not base64url")
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return refuse("has a signature that is not an ed25519 signature")
	}
	if !ed25519.Verify(v.key, []byte(parts[0]+"."+parts[1]), sig) {
		return refuse("has a signature that does not verify: it was not made by cdi-functions or was edited")
	}
	var g Grant
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return refuse("is signed but does not decode: %v", err)
	}
	return g, nil
}

// matches reports how g is not a grant for claim.
func (g Grant) matches(claim *corev1.PersistentVolumeClaim) error {
	refuse := func(why string, args ...any) error {
		return fmt.Errorf("%w: the clone authorization was made %s", ErrNotAuthorized, fmt.Sprintf(why, args...))
	}
	if g.TargetNamespace != claim.Namespace || g.TargetName != claim.Name {
		return refuse("for claim %s/%s, not for %s/%s", g.TargetNamespace, g.TargetName, claim.Namespace, claim.Name)
	}
	src, ok, err := annotations.CloneSourceOf(claim.Annotations)
	switch {
	case !ok:
		return refuse("for a clone of %s, but the claim asks for no clone (no %s)", g.Source, annotations.CloneRequest)
	case err != nil:
		return fmt.Errorf("%w: %w", ErrNotAuthorized, err)
	case src.String() != g.Source:
		return refuse("for a clone of %s, but the claim's %s asks for %s", g.Source, annotations.CloneRequest, src)
	}
	if g.TargetUID != "" {
		if string(claim.UID) != g.TargetUID {
			return refuse("for the claim with UID %s, not for this claim %s/%s (UID %s): it was copied from a claim deleted since",
				g.TargetUID, claim.Namespace, claim.Name, claim.UID)
		}
		return nil
	}
	created := claim.CreationTimestamp.Time
	earliest, latest := g.IssuedAt.Add(-CreatedBefore), g.IssuedAt.Add(CreatedAfter)
	if created.IsZero() || created.Before(earliest) || created.After(latest) {
		return refuse("when a claim %s/%s was created at %s, but this claim was created at %s: it was copied from an earlier claim of the name",
			claim.Namespace, claim.Name, g.IssuedAt.UTC().Format(time.RFC3339), created.UTC().Format(time.RFC3339))
	}
	return nil
}

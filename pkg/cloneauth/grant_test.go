package cloneauth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

var issued = time.Date(2026, 12, 4, 10, 0, 0, 500_000_000, time.UTC)

func newSigner(t testing.TB) *Signer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := NewSigner(key)
	require.NoError(t, err)
	return s
}

// claim is the target claim default/clone asking for golden/disk, created
// at created with uid.
func claim(uid string, created time.Time, mods ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
		Namespace:         "default",
		Name:              "clone",
		UID:               types.UID(uid),
		CreationTimestamp: metav1.NewTime(created),
		Annotations:       map[string]string{annotations.CloneRequest: "golden/disk"},
	}}
	for _, m := range mods {
		m(c)
	}
	return c
}

func grant(uid string) Grant {
	return Grant{TargetNamespace: "default", TargetName: "clone", TargetUID: uid, Source: "golden/disk", User: "alice", IssuedAt: issued}
}

func TestVerify(t *testing.T) {
	signer, other := newSigner(t), newSigner(t)
	sign := func(s *Signer, g Grant) string {
		tok, err := s.Sign(g)
		require.NoError(t, err)
		return tok
	}
	atCreate := sign(signer, grant(""))
	atUpdate := sign(signer, grant("uid-1"))
	// Second-truncated creation timestamps, as the API server writes them.
	createdNow := issued.Truncate(time.Second)

	tests := []struct {
		name  string
		token string
		claim *corev1.PersistentVolumeClaim
		want  string // substring of the refusal; "" for a grant
	}{{
		name:  "bound by UID",
		token: atUpdate,
		claim: claim("uid-1", createdNow.Add(-time.Hour)),
	}, {
		name:  "bound by creation time",
		token: atCreate,
		claim: claim("uid-1", createdNow),
	}, {
		name:  "bound by creation time, stored a few seconds later",
		token: atCreate,
		claim: claim("uid-1", createdNow.Add(5*time.Second)),
	}, {
		name:  "source with spaces around it, as CloneSourceOf reads it",
		token: atUpdate,
		claim: claim("uid-1", createdNow, func(c *corev1.PersistentVolumeClaim) { c.Annotations[annotations.CloneRequest] = " golden/disk " }),
	}, {
		name:  "missing",
		token: "",
		claim: claim("uid-1", createdNow),
		want:  "is missing",
	}, {
		name:  "signed by another key",
		token: sign(other, grant("uid-1")),
		claim: claim("uid-1", createdNow),
		want:  "does not verify",
	}, {
		name:  "forged signature",
		token: atUpdate[:strings.LastIndex(atUpdate, ".")+1] + base64.RawURLEncoding.EncodeToString(make([]byte, ed25519.SignatureSize)),
		claim: claim("uid-1", createdNow),
		want:  "does not verify",
	}, {
		name: "edited source in the payload",
		token: func() string {
			parts := strings.Split(atUpdate, ".")
			g := grant("uid-1")
			g.Source = "golden/secret-disk"
			forged := strings.Split(sign(other, g), ".")
			return parts[0] + "." + forged[1] + "." + parts[2]
		}(),
		claim: claim("uid-1", createdNow, func(c *corev1.PersistentVolumeClaim) { c.Annotations[annotations.CloneRequest] = "golden/secret-disk" }),
		want:  "does not verify",
	}, {
		name:  "claim's source edited after the grant",
		token: atUpdate,
		claim: claim("uid-1", createdNow, func(c *corev1.PersistentVolumeClaim) { c.Annotations[annotations.CloneRequest] = "kube-system/etcd" }),
		want:  "made for a clone of golden/disk, but the claim's k8s.io/CloneRequest asks for kube-system/etcd",
	}, {
		name:  "clone request removed",
		token: atUpdate,
		claim: claim("uid-1", createdNow, func(c *corev1.PersistentVolumeClaim) { delete(c.Annotations, annotations.CloneRequest) }),
		want:  "asks for no clone",
	}, {
		name:  "clone request invalid",
		token: atUpdate,
		claim: claim("uid-1", createdNow, func(c *corev1.PersistentVolumeClaim) { c.Annotations[annotations.CloneRequest] = "golden" }),
		want:  "not namespace/claim",
	}, {
		name:  "copied to another name",
		token: atUpdate,
		claim: claim("uid-1", createdNow, func(c *corev1.PersistentVolumeClaim) { c.Name = "other" }),
		want:  "made for claim default/clone, not for default/other",
	}, {
		name:  "copied to another namespace",
		token: atCreate,
		claim: claim("uid-1", createdNow, func(c *corev1.PersistentVolumeClaim) { c.Namespace = "mallory" }),
		want:  "made for claim default/clone, not for mallory/clone",
	}, {
		name:  "UID mismatch: copied onto a re-created claim",
		token: atUpdate,
		claim: claim("uid-2", createdNow),
		want:  "made for the claim with UID uid-1, not for this claim default/clone (UID uid-2)",
	}, {
		name:  "copied to a later claim of the same name",
		token: atCreate,
		claim: claim("uid-2", createdNow.Add(CreatedAfter+time.Second)),
		want:  "copied from an earlier claim of the name",
	}, {
		name:  "claim created well before the grant",
		token: atCreate,
		claim: claim("uid-2", createdNow.Add(-CreatedBefore-time.Second)),
		want:  "copied from an earlier claim of the name",
	}, {
		name:  "creation time not set",
		token: atCreate,
		claim: claim("uid-2", time.Time{}),
		want:  "was created at",
	}, {
		name:  "not a token",
		token: "hello",
		claim: claim("uid-1", createdNow),
		want:  "is not a clone grant",
	}, {
		name:  "another version",
		token: "v2" + atUpdate[2:],
		claim: claim("uid-1", createdNow),
		want:  `has version "v2"`,
	}, {
		name:  "padded base64",
		token: "v1.e30=." + strings.Split(atUpdate, ".")[2],
		claim: claim("uid-1", createdNow),
		want:  "payload that is not base64url",
	}, {
		name:  "short signature",
		token: "v1." + strings.Split(atUpdate, ".")[1] + ".AAAA",
		claim: claim("uid-1", createdNow),
		want:  "not an ed25519 signature",
	}, {
		name:  "too long",
		token: atUpdate + strings.Repeat("A", MaxTokenSize),
		claim: claim("uid-1", createdNow),
		want:  "longer than",
	}}
	v := signer.Verifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := v.Verify(tt.token, tt.claim)
			if tt.want == "" {
				require.NoError(t, err)
				assert.Equal(t, "alice", g.User)
				assert.Equal(t, "golden/disk", g.Source)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrNotAuthorized)
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, Grant{}, g)
		})
	}
}

func TestSignedPayloadWithUnknownFields(t *testing.T) {
	// A payload the key signed must still be exactly a Grant.
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	v, err := NewVerifier(key.Public().(ed25519.PublicKey))
	require.NoError(t, err)
	input := "v1." + base64.RawURLEncoding.EncodeToString([]byte(`{"targetNamespace":"default","admin":true}`))
	tok := input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(input)))
	_, err = v.Verify(tok, claim("uid-1", issued))
	assert.ErrorIs(t, err, ErrNotAuthorized)
	assert.ErrorContains(t, err, "does not decode")
}

func TestKeySizes(t *testing.T) {
	_, err := NewSigner(make([]byte, 10))
	assert.Error(t, err)
	_, err = NewVerifier(make([]byte, 10))
	assert.Error(t, err)
}

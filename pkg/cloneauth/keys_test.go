package cloneauth

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

const ns = "cdi"

func TestEnsureCreatesOnceAndLoadVerifierChecks(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset()

	s1, err := Ensure(ctx, kube, ns)
	require.NoError(t, err)
	s2, err := Ensure(ctx, kube, ns)
	require.NoError(t, err)
	assert.Equal(t, s1.key, s2.key, "a second Ensure reads the key the first made")

	secret, err := kube.CoreV1().Secrets(ns).Get(ctx, SigningSecretName, metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, secret.Immutable)
	assert.True(t, *secret.Immutable)
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, VerificationConfigMapName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, cm.Data[PublicKeyKey], "PRIVATE")

	v, err := LoadVerifier(ctx, kube, ns)
	require.NoError(t, err)
	tok, err := s1.Sign(grant("uid-1"))
	require.NoError(t, err)
	_, err = v.Verify(tok, claim("uid-1", issued))
	assert.NoError(t, err)
}

func TestEnsureLosesTheCreateRace(t *testing.T) {
	ctx := context.Background()
	winner := fake.NewClientset()
	want, err := Ensure(ctx, winner, ns)
	require.NoError(t, err)
	won, err := winner.CoreV1().Secrets(ns).Get(ctx, SigningSecretName, metav1.GetOptions{})
	require.NoError(t, err)

	// This replica's Get finds nothing, its Create is refused: the winner's
	// Secret appeared in between.
	kube := fake.NewClientset()
	gets := 0
	kube.PrependReactor("get", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
		gets++
		if gets == 1 {
			return true, nil, apierrors.NewNotFound(corev1.Resource("secrets"), SigningSecretName)
		}
		return true, won, nil
	})
	kube.PrependReactor("create", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewAlreadyExists(corev1.Resource("secrets"), SigningSecretName)
	})
	got, err := Ensure(ctx, kube, ns)
	require.NoError(t, err)
	assert.Equal(t, want.key, got.key)
}

func TestEnsureCorrectsAStaleConfigMap(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: VerificationConfigMapName},
		Data:       map[string]string{PublicKeyKey: "left from an earlier key"},
	})
	s, err := Ensure(ctx, kube, ns)
	require.NoError(t, err)
	v, err := LoadVerifier(ctx, kube, ns)
	require.NoError(t, err)
	assert.Equal(t, s.Verifier().key, v.key)
}

func TestEnsureErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("API error", func(t *testing.T) {
		kube := fake.NewClientset()
		kube.PrependReactor("get", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("connection refused")
		})
		_, err := Ensure(ctx, kube, ns)
		assert.ErrorContains(t, err, "get the clone signing key (secret cdi/cdi-clone-signing): connection refused")
	})
	t.Run("garbage in the Secret", func(t *testing.T) {
		kube := fake.NewClientset(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: SigningSecretName},
			Data:       map[string][]byte{PrivateKeyKey: []byte("nope")},
		})
		_, err := Ensure(ctx, kube, ns)
		assert.ErrorContains(t, err, "secret cdi/cdi-clone-signing, key ed25519.key: not one PEM private key")
	})
}

func TestLoadVerifierErrors(t *testing.T) {
	ctx := context.Background()
	_, err := LoadVerifier(ctx, fake.NewClientset(), ns)
	assert.ErrorContains(t, err, "configmap cdi/cdi-clone-verification")
	assert.True(t, apierrors.IsNotFound(errors.Unwrap(err)))

	_, err = LoadVerifier(ctx, fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: VerificationConfigMapName},
		Data:       map[string]string{PublicKeyKey: "nope"},
	}), ns)
	assert.ErrorContains(t, err, "not a PEM public key")
}

package podcred

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestEnsureCreatesOnce(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset()
	a, err := Ensure(ctx, kube, "cdi", now)
	require.NoError(t, err)
	b, err := Ensure(ctx, kube, "cdi", now)
	require.NoError(t, err)
	assert.Equal(t, a.Credential("u"), b.Credential("u"), "the second call reads the first one's Secret")
	l, err := Load(ctx, kube, "cdi")
	require.NoError(t, err)
	assert.Equal(t, a.Credential("u"), l.Credential("u"))
}

// TestEnsureRace: another replica creates the Secret between our GET and
// CREATE; both must end with the stored one.
func TestEnsureRace(t *testing.T) {
	ctx := context.Background()
	winner := mustNew(t)
	data, err := winner.SecretData()
	require.NoError(t, err)
	kube := fake.NewClientset()
	kube.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: SecretName, Namespace: "cdi"}, Data: data}
		require.NoError(t, kube.Tracker().Add(s))
		return true, nil, apierrors.NewAlreadyExists(corev1.Resource("secrets"), SecretName)
	})
	a, err := Ensure(ctx, kube, "cdi", now)
	require.NoError(t, err)
	assert.Equal(t, winner.Credential("u"), a.Credential("u"))
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(context.Background(), fake.NewClientset(), "cdi")
	assert.True(t, apierrors.IsNotFound(err), "the caller can tell a missing authority: %v", err)
}

package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// keysSecret is a token keys Secret with data, at resourceVersion rv.
func keysSecret(rv string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "cdi", Name: uploadtoken.SecretName, ResourceVersion: rv}, Data: data}
}

func newKeysData(t *testing.T) map[string][]byte {
	t.Helper()
	d, err := uploadtoken.NewSecretData()
	require.NoError(t, err)
	return d
}

func TestSecretWatchApply(t *testing.T) {
	logger := zap.NewNop().Sugar()
	w := newSecretWatch(fake.NewClientset(), "cdi", uploadtoken.SecretName, keysCreator, uploadtoken.ParseKeys)
	var changes []string
	w.onChange = func(k *uploadtoken.Keys) { changes = append(changes, k.Current()) }

	assert.ErrorContains(t, w.ready(), "waiting for the Secret cdi/cdi-upload-token-keys (cdi-tokenapi creates it)")

	// A first version that does not parse: not ready, and why.
	w.apply(logger, keysSecret("1", map[string][]byte{uploadtoken.CurrentKey: []byte("nope")}))
	assert.Nil(t, w.Current())
	assert.ErrorContains(t, w.ready(), "resourceVersion 1")

	first := newKeysData(t)
	w.apply(logger, keysSecret("2", first))
	require.NotNil(t, w.Current())
	assert.NoError(t, w.ready())
	assert.Equal(t, []string{string(first[uploadtoken.CurrentKey])}, changes)

	// The same version again (a relist): nothing changes.
	w.apply(logger, keysSecret("2", first))
	assert.Len(t, changes, 1)

	// A broken update keeps the keys in use.
	w.apply(logger, keysSecret("3", map[string][]byte{}))
	assert.Equal(t, string(first[uploadtoken.CurrentKey]), w.Current().Current())
	assert.NoError(t, w.ready())

	// A rotation is taken.
	second := newKeysData(t)
	w.apply(logger, keysSecret("4", second))
	assert.Equal(t, []string{string(first[uploadtoken.CurrentKey]), string(second[uploadtoken.CurrentKey])}, changes)
}

// TestSecretWatchWaitsForTheSecret: the authority Secret created after
// the proxy started is picked up by the watch, and only that Secret is.
func TestSecretWatchWaitsForTheSecret(t *testing.T) {
	ctx, cancel := context.WithCancel(logging.WithLogger(context.Background(), zap.NewNop().Sugar()))
	defer cancel()
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "cdi", Name: "unrelated"}, Data: map[string][]byte{"x": []byte("y")}}
	kube := fake.NewClientset(other)
	w := newSecretWatch(kube, "cdi", podcred.SecretName, authorityCreator, podcred.Parse)
	require.NoError(t, w.run(ctx))
	assert.Never(t, func() bool { return w.Current() != nil }, 200*time.Millisecond, 20*time.Millisecond)

	a, err := podcred.New(time.Now())
	require.NoError(t, err)
	data, err := a.SecretData()
	require.NoError(t, err)
	_, err = kube.CoreV1().Secrets("cdi").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "cdi", Name: podcred.SecretName}, Data: data}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return w.Current() != nil }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, a.Credential("u"), w.Current().Credential("u"))
}

package main

import (
	"context"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// ensureKeysSecret returns the token keys Secret of namespace ns, creating
// it with one fresh key when it does not exist. Created once: a replica
// that loses the race reads the winner's.
func ensureKeysSecret(ctx context.Context, kube kubernetes.Interface, ns string) (*corev1.Secret, error) {
	secrets := kube.CoreV1().Secrets(ns)
	s, err := secrets.Get(ctx, uploadtoken.SecretName, metav1.GetOptions{})
	if err == nil {
		return s, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("get the token keys Secret %s/%s: %w", ns, uploadtoken.SecretName, err)
	}
	data, err := uploadtoken.NewSecretData()
	if err != nil {
		return nil, fmt.Errorf("make the token keys: %w", err)
	}
	s, err = secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: uploadtoken.SecretName, Namespace: ns, Labels: map[string]string{
			"app.kubernetes.io/part-of": "cdi-functions", "app.kubernetes.io/component": "tokenapi",
		}},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		s, err = secrets.Get(ctx, uploadtoken.SecretName, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("create the token keys Secret %s/%s: %w", ns, uploadtoken.SecretName, err)
	}
	logging.FromContext(ctx).Infow("Created the upload token keys", "secret", ns+"/"+uploadtoken.SecretName)
	return s, nil
}

// keyStore holds the current signing keys; the Secret's changes replace
// them (rotation).
type keyStore struct {
	keys atomic.Pointer[uploadtoken.Keys]
}

// get returns the current keys, nil before the first load.
func (k *keyStore) get() *uploadtoken.Keys { return k.keys.Load() }

// update loads the keys of s. Keys that do not parse are refused and the
// previous keys kept, so a bad edit of the Secret stops no one.
func (k *keyStore) update(ctx context.Context, s *corev1.Secret) error {
	ks, err := uploadtoken.ParseKeys(s.Data)
	if err != nil {
		return fmt.Errorf("token keys Secret %s/%s (resourceVersion %s): %w; keeping the previous keys", s.Namespace, s.Name, s.ResourceVersion, err)
	}
	old := k.keys.Swap(ks)
	if old == nil || old.Current() != ks.Current() {
		logging.FromContext(ctx).Infow("Signing upload tokens", "kid", ks.Current(), "resourceVersion", s.ResourceVersion)
	}
	return nil
}

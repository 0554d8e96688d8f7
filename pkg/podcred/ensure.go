package podcred

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Ensure returns the upload authority of namespace's Secret SecretName,
// creating it when it does not exist. Two callers racing to create it both
// end with the one that was stored.
func Ensure(ctx context.Context, kube kubernetes.Interface, namespace string, now time.Time) (*Authority, error) {
	return ensure(ctx, kube, namespace, SecretName, now)
}

// EnsureClone is Ensure for the clone authority (Secret CloneSecretName).
func EnsureClone(ctx context.Context, kube kubernetes.Interface, namespace string, now time.Time) (*Authority, error) {
	return ensure(ctx, kube, namespace, CloneSecretName, now)
}

func ensure(ctx context.Context, kube kubernetes.Interface, namespace, name string, now time.Time) (*Authority, error) {
	secrets := kube.CoreV1().Secrets(namespace)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return parseSecret(s)
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("get Secret %s/%s: %w", namespace, name, err)
	}
	a, err := New(now)
	if err != nil {
		return nil, err
	}
	data, err := a.SecretData()
	if err != nil {
		return nil, err
	}
	s = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "cdi-functions"}},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	_, err = secrets.Create(ctx, s, metav1.CreateOptions{})
	switch {
	case err == nil:
		return a, nil
	case apierrors.IsAlreadyExists(err):
		s, err = secrets.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get Secret %s/%s: %w", namespace, name, err)
		}
		return parseSecret(s)
	default:
		return nil, fmt.Errorf("create Secret %s/%s: %w", namespace, name, err)
	}
}

// Load returns the authority of namespace's Secret SecretName, which must
// exist (the upload proxy waits for the uploader to create it).
func Load(ctx context.Context, kube kubernetes.Interface, namespace string) (*Authority, error) {
	s, err := kube.CoreV1().Secrets(namespace).Get(ctx, SecretName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get Secret %s/%s: %w", namespace, SecretName, err)
	}
	return parseSecret(s)
}

func parseSecret(s *corev1.Secret) (*Authority, error) {
	a, err := Parse(s.Data)
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	return a, nil
}

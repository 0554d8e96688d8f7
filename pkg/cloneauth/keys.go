package cloneauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Where the keys live, in the system namespace.
const (
	// SigningSecretName is the Secret holding the private key; only the
	// webhook reads it.
	SigningSecretName = "cdi-clone-signing"
	// VerificationConfigMapName is the ConfigMap holding the public key,
	// for the cloner (and anyone who wants to check a grant).
	VerificationConfigMapName = "cdi-clone-verification"
	// PrivateKeyKey is the Secret's key: a PKCS #8 PEM Ed25519 private key.
	PrivateKeyKey = "ed25519.key"
	// PublicKeyKey is the ConfigMap's key: a PKIX PEM Ed25519 public key.
	PublicKeyKey = "ed25519.pub"
)

// Ensure returns the Signer of the signing key in the Secret
// SigningSecretName of namespace, creating the key if the Secret does not
// exist (create-only: a replica that loses the race reads the winner's),
// and makes the ConfigMap VerificationConfigMapName publish its public key
// (created if missing, corrected if it names another key).
func Ensure(ctx context.Context, kube kubernetes.Interface, namespace string) (*Signer, error) {
	key, err := ensureSecret(ctx, kube, namespace)
	if err != nil {
		return nil, err
	}
	s, err := NewSigner(key)
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", namespace, SigningSecretName, err)
	}
	pub, err := encodePublic(key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	if err := ensureConfigMap(ctx, kube, namespace, pub); err != nil {
		return nil, err
	}
	return s, nil
}

// ensureSecret reads the signing key, creating it first if missing.
func ensureSecret(ctx context.Context, kube kubernetes.Interface, namespace string) (ed25519.PrivateKey, error) {
	secrets := kube.CoreV1().Secrets(namespace)
	secret, err := secrets.Get(ctx, SigningSecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		secret, err = createSecret(ctx, kube, namespace)
		if apierrors.IsAlreadyExists(err) {
			secret, err = secrets.Get(ctx, SigningSecretName, metav1.GetOptions{})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("get the clone signing key (secret %s/%s): %w", namespace, SigningSecretName, err)
	}
	key, err := decodePrivate(secret.Data[PrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s, key %s: %w", namespace, SigningSecretName, PrivateKeyKey, err)
	}
	return key, nil
}

// createSecret makes a new signing key and stores it.
func createSecret(ctx context.Context, kube kubernetes.Interface, namespace string) (*corev1.Secret, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate an ed25519 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode the ed25519 key: %w", err)
	}
	immutable := true
	return kube.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      SigningSecretName,
			Namespace: namespace,
			Labels:    map[string]string{"app.kubernetes.io/part-of": "cdi-functions", "app.kubernetes.io/component": "webhook"},
		},
		Immutable: &immutable,
		Type:      corev1.SecretTypeOpaque,
		Data:      map[string][]byte{PrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})},
	}, metav1.CreateOptions{})
}

// ensureConfigMap makes the verification ConfigMap hold pub.
func ensureConfigMap(ctx context.Context, kube kubernetes.Interface, namespace string, pub []byte) error {
	cms := kube.CoreV1().ConfigMaps(namespace)
	fail := func(err error) error {
		return fmt.Errorf("publish the clone verification key (configmap %s/%s): %w", namespace, VerificationConfigMapName, err)
	}
	cm, err := cms.Get(ctx, VerificationConfigMapName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name:      VerificationConfigMapName,
				Namespace: namespace,
				Labels:    map[string]string{"app.kubernetes.io/part-of": "cdi-functions", "app.kubernetes.io/component": "webhook"},
			},
			Data: map[string]string{PublicKeyKey: string(pub)},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			// Another replica published it; it holds the same Secret's key.
			return nil
		}
	} else if err == nil && cm.Data[PublicKeyKey] != string(pub) {
		// The Secret is the truth: a ConfigMap left from an earlier key
		// would make every new grant fail to verify.
		cm = cm.DeepCopy()
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[PublicKeyKey] = string(pub)
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// LoadVerifier reads the public key from the ConfigMap
// VerificationConfigMapName of namespace. It never needs the private key.
func LoadVerifier(ctx context.Context, kube kubernetes.Interface, namespace string) (*Verifier, error) {
	cm, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, VerificationConfigMapName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get the clone verification key (configmap %s/%s): %w", namespace, VerificationConfigMapName, err)
	}
	return VerifierFromConfigMap(cm)
}

// VerifierFromConfigMap returns the Verifier of the public key cm holds,
// for callers that watch the ConfigMap with an informer.
func VerifierFromConfigMap(cm *corev1.ConfigMap) (*Verifier, error) {
	block, _ := pem.Decode([]byte(cm.Data[PublicKeyKey]))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("configmap %s/%s, key %s: not a PEM public key", cm.Namespace, cm.Name, PublicKeyKey)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("configmap %s/%s, key %s: %w", cm.Namespace, cm.Name, PublicKeyKey, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("configmap %s/%s, key %s: a %T, not an ed25519 public key", cm.Namespace, cm.Name, PublicKeyKey, k)
	}
	return NewVerifier(pub)
}

// decodePrivate parses a PKCS #8 PEM Ed25519 private key.
func decodePrivate(data []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("not one PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse the private key: %w", err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an ed25519 private key", k)
	}
	return key, nil
}

// encodePublic is the PKIX PEM form of pub.
func encodePublic(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode the ed25519 public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

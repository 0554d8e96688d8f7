package gen

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Secret is an import credentials Secret name in Namespace.
func Secret(name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Data: map[string][]byte{"accessKeyId": []byte("user"), "secretKey": []byte("pass")}}
}

// ConfigMap is a CA ConfigMap name in Namespace.
func ConfigMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Data: map[string]string{"ca.pem": "-----BEGIN CERTIFICATE-----"}}
}

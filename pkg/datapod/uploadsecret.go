package datapod

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// UploadSecret returns the credential Secret of claim's upload pods
// (UploadSecretName): the bearer credential the upload proxy presents
// (CredentialKey) and the pods' serving certificate and key (TLSCertKey,
// TLSKeyKey), as pkg/podcred issues them. It carries the data pods'
// labels and is owned by the claim, so it goes with it.
func UploadSecret(claim *corev1.PersistentVolumeClaim, bearer string, certPEM, keyPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      UploadSecretName(string(claim.UID)),
			Namespace: claim.Namespace,
			Labels: map[string]string{
				LabelManagedBy: ManagedBy,
				LabelClaimUID:  string(claim.UID),
			},
			Annotations:     map[string]string{AnnotationClaimName: claim.Name},
			OwnerReferences: []metav1.OwnerReference{ClaimOwnerReference(claim)},
		},
		Type:      corev1.SecretTypeOpaque,
		Immutable: ptr.To(true),
		Data: map[string][]byte{
			CredentialKey: []byte(bearer),
			TLSCertKey:    certPEM,
			TLSKeyKey:     keyPEM,
		},
	}
}

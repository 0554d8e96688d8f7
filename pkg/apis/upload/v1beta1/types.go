package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UploadTokenRequest asks for a token that authorizes one upload into one
// claim of the request's namespace. It is never stored: creating one
// answers with the token in Status.Token, valid for five minutes and only
// for the claim (by name and UID) named in Spec.PvcName. The caller must be
// allowed to update that claim.
type UploadTokenRequest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec names the claim to upload into.
	Spec UploadTokenRequestSpec `json:"spec"`
	// Status carries the token, filled in by the server.
	Status UploadTokenRequestStatus `json:"status,omitempty"`
}

// UploadTokenRequestSpec is what an UploadTokenRequest asks for.
type UploadTokenRequestSpec struct {
	// PvcName is the claim, in the request's namespace, to upload into. The
	// claim must exist and carry the annotation
	// cdi.kubevirt.io/storage.upload.target.
	PvcName string `json:"pvcName"`
}

// UploadTokenRequestStatus is the server's answer to an UploadTokenRequest.
type UploadTokenRequestStatus struct {
	// Token is the upload token (an ES256 JWT, pkg/uploadtoken), presented
	// to the upload proxy as "Authorization: Bearer <token>".
	Token string `json:"token,omitempty"`
}

// UploadTokenRequestList is a list of UploadTokenRequests. Nothing is
// stored, so a server never lists any; the type exists for clients and
// schemes that expect a list kind.
type UploadTokenRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items are the requests.
	Items []UploadTokenRequest `json:"items"`
}

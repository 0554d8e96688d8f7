// Package upload is the API group upload.cdi.kubevirt.io: the
// UploadTokenRequest, which a user creates to get a token for one upload
// into one claim. The group is served by an aggregated API server
// (tokenapi/) that stores nothing: every create answers with a fresh token
// in status.token.
package upload

const (
	// GroupName is the API group of the upload API.
	GroupName = "upload.cdi.kubevirt.io"
	// Kind is the kind of an UploadTokenRequest.
	Kind = "UploadTokenRequest"
	// ListKind is the kind of a list of UploadTokenRequests.
	ListKind = "UploadTokenRequestList"
	// Resource is the plural resource name of UploadTokenRequests.
	Resource = "uploadtokenrequests"
	// Singular is the singular resource name of UploadTokenRequests.
	Singular = "uploadtokenrequest"
)

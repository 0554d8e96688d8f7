// Package v1beta1 is version v1beta1 of the API group upload.cdi.kubevirt.io
// (pkg/apis/upload): the UploadTokenRequest. The versions v1alpha1 and
// v1beta1 have the same schema; both are served.
package v1beta1

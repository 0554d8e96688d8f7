package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cdi-functions/cdi-functions/pkg/apis/upload"
)

// Version is the version of the API group this package defines.
const Version = "v1alpha1"

// SchemeGroupVersion is the group and version of this package's types.
var SchemeGroupVersion = schema.GroupVersion{Group: upload.GroupName, Version: Version}

// Resource returns the group and resource of a resource of this version,
// for errors such as apierrors.NewNotFound.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

// AddToScheme registers this version's types in a scheme, for clients
// (client-go's REST client with a codec) that decode them.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &UploadTokenRequest{}, &UploadTokenRequestList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

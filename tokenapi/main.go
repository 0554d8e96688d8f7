// Command cdi-tokenapi is the aggregated API server of the group
// upload.cdi.kubevirt.io (v1alpha1 and v1beta1): it answers the creation of
// an UploadTokenRequest with a fresh upload token in status.token and
// stores nothing, as CDI's cdi-apiserver does.
//
// The kube-apiserver forwards users' requests to it through the
// aggregation layer; it believes the caller's identity (X-Remote-User,
// X-Remote-Group, X-Remote-Extra-*) only from a client presenting the
// front proxy's certificate (kube-system/extension-apiserver-authentication),
// then checks with a SubjectAccessReview that the caller may update the
// claim (pkg/tokenrequest). It creates once and watches the token keys
// Secret (rotation), and makes, renews and publishes its own serving
// certificate (the APIServices' caBundle).
package main

import (
	"fmt"
	"os"

	"knative.dev/pkg/signals"
)

func main() {
	if err := run(signals.NewContext()); err != nil {
		fmt.Fprintf(os.Stderr, "cdi-tokenapi: %v\n", err)
		os.Exit(1)
	}
}

// Package tokenrequest answers UploadTokenRequests: who may have a token
// for an upload into a claim, and the token (pkg/uploadtoken).
package tokenrequest

import (
	"context"
	"errors"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// Refusals of Issue; each comes wrapped with a message for the caller.
var (
	// ErrForbidden: the caller may not update the claim (answered 403).
	ErrForbidden = errors.New("forbidden")
	// ErrNoTarget: the claim does not exist or is not an upload target
	// (answered 404 for the first, 400 for the second; both wrap it).
	ErrNoTarget = errors.New("no upload target")
)

// Issuer answers UploadTokenRequests: it checks that the caller may update
// the claim, with a SubjectAccessReview made with the caller's own
// identity, and signs a token scoped to the claim's current UID.
type Issuer struct {
	// Keys sign the tokens.
	Keys *uploadtoken.Keys
	// Kube makes the SubjectAccessReviews and reads claims.
	Kube kubernetes.Interface
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Issue returns a token for an upload into the claim ns/name by user.
func (i *Issuer) Issue(ctx context.Context, user authenticationv1.UserInfo, ns, name string) (string, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := i.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: "update", Resource: "persistentvolumeclaims", Name: name,
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("check whether %q may update claim %s/%s: %w", user.Username, ns, name, err)
	}
	if !sar.Status.Allowed {
		return "", fmt.Errorf("%w: user %q may not update persistentvolumeclaims %q in namespace %q, which an upload token requires",
			ErrForbidden, user.Username, name, ns)
	}
	claim, err := i.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("%w: claim %s/%s does not exist", ErrNoTarget, ns, name)
	}
	if err != nil {
		return "", fmt.Errorf("get claim %s/%s: %w", ns, name, err)
	}
	if _, ok := claim.Annotations[annotations.UploadTarget]; !ok {
		return "", fmt.Errorf("%w: claim %s/%s is not an upload target: annotate it %s", ErrNoTarget, ns, name, annotations.UploadTarget)
	}
	now := time.Now
	if i.Now != nil {
		now = i.Now
	}
	return i.Keys.Sign(uploadtoken.Scope{Operation: uploadtoken.OperationUpload, Namespace: ns, Name: name, UID: string(claim.UID)}, now())
}

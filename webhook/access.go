package main

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cdi-functions/cdi-functions/pkg/access"
)

// accessReview reports whether user may clone claims of namespace; an
// error means it could not be told.
type accessReview func(ctx context.Context, user authenticationv1.UserInfo, namespace string) (bool, error)

// reviewAccess answers with SubjectAccessReviews made with the user's own
// identity, for what pkg/access says lets a user clone (the requester asks
// the same of the sender of an external clone request).
func reviewAccess(kube kubernetes.Interface) accessReview {
	review := access.Reviewer(kube)
	return func(ctx context.Context, user authenticationv1.UserInfo, namespace string) (bool, error) {
		return review(ctx, user, access.CloneSource(namespace)...)
	}
}

// missingPermission is the refusal of a user who may not clone from
// namespace.
func missingPermission(user, namespace string) string {
	return access.MissingClonePermission(user, namespace)
}

package main

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// What lets a user clone from a namespace, as in CDI: create on
// datavolumes/source (cdi.kubevirt.io), or create on pods there (whoever
// may run pods in the namespace can read its claims anyway).
const (
	cdiGroup         = "cdi.kubevirt.io"
	cloneResource    = "datavolumes"
	cloneSubresource = "source"
	cloneSourcerRole = "cdi.kubevirt.io:clone-sourcer"
	podsResource     = "pods"
	createVerb       = "create"
)

// accessReview reports whether user may clone claims of namespace; an
// error means it could not be told.
type accessReview func(ctx context.Context, user authenticationv1.UserInfo, namespace string) (bool, error)

// cloneSourceAccess is what reviewAccess asks, in order: any one allows.
func cloneSourceAccess(namespace string) []authorizationv1.ResourceAttributes {
	return []authorizationv1.ResourceAttributes{
		{Namespace: namespace, Verb: createVerb, Group: cdiGroup, Resource: cloneResource, Subresource: cloneSubresource},
		{Namespace: namespace, Verb: createVerb, Resource: podsResource},
	}
}

// reviewAccess answers with SubjectAccessReviews made with the user's own
// identity (name, UID, groups, extra).
func reviewAccess(kube kubernetes.Interface) accessReview {
	return func(ctx context.Context, user authenticationv1.UserInfo, namespace string) (bool, error) {
		extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
		for _, attrs := range cloneSourceAccess(namespace) {
			sar, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{
					User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
					ResourceAttributes: &attrs,
				},
			}, metav1.CreateOptions{})
			if err != nil {
				return false, fmt.Errorf("subjectaccessreview for %s on %s: %w", attrs.Verb, resourceName(attrs), err)
			}
			if sar.Status.Allowed {
				return true, nil
			}
		}
		return false, nil
	}
}

// missingPermission is the refusal of a user who may not clone from
// namespace: it names both permissions that would do, and the role.
func missingPermission(user, namespace string) string {
	return fmt.Sprintf("user %s may not clone from namespace %s: needs %s on %s/%s (%s) or %s on %s in %s (bind the ClusterRole %s in %s)",
		user, namespace, createVerb, cloneResource, cloneSubresource, cdiGroup, createVerb, podsResource, namespace, cloneSourcerRole, namespace)
}

func resourceName(a authorizationv1.ResourceAttributes) string {
	name := a.Resource
	if a.Subresource != "" {
		name += "/" + a.Subresource
	}
	if a.Group != "" {
		name += "." + a.Group
	}
	return name
}

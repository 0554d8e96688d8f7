package access

import (
	"context"
	"fmt"
	"strings"

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
	podsResource     = "pods"
	claimsResource   = "persistentvolumeclaims"
	createVerb       = "create"

	// CloneSourcerRole is the shipped ClusterRole that grants cloning
	// from the namespace it is bound in.
	CloneSourcerRole = "cdi.kubevirt.io:clone-sourcer"
)

// Review reports whether a user may do something; an error means it
// could not be told.
type Review func(ctx context.Context, user authenticationv1.UserInfo, any ...authorizationv1.ResourceAttributes) (bool, error)

// CloneSource is what lets a user clone claims of namespace: any one of
// these allows.
func CloneSource(namespace string) []authorizationv1.ResourceAttributes {
	return []authorizationv1.ResourceAttributes{
		{Namespace: namespace, Verb: createVerb, Group: cdiGroup, Resource: cloneResource, Subresource: cloneSubresource},
		{Namespace: namespace, Verb: createVerb, Resource: podsResource},
	}
}

// CreateClaims is what lets a user create claims in namespace.
func CreateClaims(namespace string) authorizationv1.ResourceAttributes {
	return authorizationv1.ResourceAttributes{Namespace: namespace, Verb: createVerb, Resource: claimsResource}
}

// Reviewer answers with SubjectAccessReviews made with the user's own
// identity (name, UID, groups, extra), asked in order: the first allowed
// one allows.
func Reviewer(kube kubernetes.Interface) Review {
	return func(ctx context.Context, user authenticationv1.UserInfo, any ...authorizationv1.ResourceAttributes) (bool, error) {
		extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
		for _, attrs := range any {
			sar, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{
					User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
					ResourceAttributes: &attrs,
				},
			}, metav1.CreateOptions{})
			if err != nil {
				return false, fmt.Errorf("subjectaccessreview for %s on %s: %w", attrs.Verb, Describe(attrs), err)
			}
			if sar.Status.Allowed {
				return true, nil
			}
		}
		return false, nil
	}
}

// MissingClonePermission is the refusal of a user who may not clone from
// namespace: it names both permissions that would do, and the role.
func MissingClonePermission(user, namespace string) string {
	return fmt.Sprintf("user %s may not clone from namespace %s: needs %s on %s/%s (%s) or %s on %s in %s (bind the ClusterRole %s in %s)",
		user, namespace, createVerb, cloneResource, cloneSubresource, cdiGroup, createVerb, podsResource, namespace, CloneSourcerRole, namespace)
}

// MissingClaimPermission is the refusal of a user who may not create
// claims in namespace.
func MissingClaimPermission(user, namespace string) string {
	return fmt.Sprintf("user %s may not create %s in namespace %s (the edit or admin ClusterRole grants it)", user, claimsResource, namespace)
}

// Describe names what attrs is about: "datavolumes/source.cdi.kubevirt.io".
func Describe(a authorizationv1.ResourceAttributes) string {
	var b strings.Builder
	b.WriteString(a.Resource)
	if a.Subresource != "" {
		b.WriteString("/" + a.Subresource)
	}
	if a.Group != "" {
		b.WriteString("." + a.Group)
	}
	return b.String()
}

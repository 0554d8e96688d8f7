package auth

import (
	"context"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
)

// Audience is the audience of every token cdi-functions' senders present
// and its receivers accept. It is not the API server's: a token for the
// API server is refused, and a token for cdi-functions is refused by the
// API server.
const Audience = "cdi-functions"

// The extra fields of a TokenReview's user that name the pod a token is
// bound to (kube-apiserver sets them for projected tokens).
const (
	extraPodName = "authentication.kubernetes.io/pod-name"
	extraPodUID  = "authentication.kubernetes.io/pod-uid"
)

// serviceAccountPrefix starts the user name of a ServiceAccount.
const serviceAccountPrefix = "system:serviceaccount:"

// Identity is who sent a request, as the API server vouches for it.
type Identity struct {
	// Username is the user name, "system:serviceaccount:<ns>:<name>" for
	// a ServiceAccount.
	Username string
	// UID is the user's UID (of the ServiceAccount).
	UID string
	// Groups are the user's groups.
	Groups []string
	// Extra are the user's extra fields (for a projected token, the pod
	// and node it is bound to).
	Extra map[string][]string
	// ServiceAccount is set when the sender is a ServiceAccount.
	ServiceAccount *ServiceAccount
	// Pod is set when the token is bound to a pod: the pod it was
	// issued to.
	Pod *Pod
}

// ServiceAccount names a ServiceAccount.
type ServiceAccount struct {
	Namespace string
	Name      string
}

// Pod names the pod a token is bound to.
type Pod struct {
	Name string
	UID  string
}

// ServiceAccountUser is the user name of the ServiceAccount ns/name.
func ServiceAccountUser(ns, name string) string {
	return serviceAccountPrefix + ns + ":" + name
}

// identityOf reads the identity out of a TokenReview's user.
func identityOf(u authenticationv1.UserInfo) Identity {
	id := Identity{Username: u.Username, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		id.Extra = make(map[string][]string, len(u.Extra))
		for k, v := range u.Extra {
			id.Extra[k] = []string(v)
		}
	}
	if rest, ok := strings.CutPrefix(u.Username, serviceAccountPrefix); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok && ns != "" && name != "" {
			id.ServiceAccount = &ServiceAccount{Namespace: ns, Name: name}
		}
	}
	name, uid := first(u.Extra[extraPodName]), first(u.Extra[extraPodUID])
	if name != "" && uid != "" {
		id.Pod = &Pod{Name: name, UID: uid}
	}
	return id
}

func first(v authenticationv1.ExtraValue) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// UserInfo is the identity as the API server's reviews take it (a
// SubjectAccessReview asked on the sender's behalf).
func (i Identity) UserInfo() authenticationv1.UserInfo {
	u := authenticationv1.UserInfo{Username: i.Username, UID: i.UID, Groups: i.Groups}
	if len(i.Extra) > 0 {
		u.Extra = make(map[string]authenticationv1.ExtraValue, len(i.Extra))
		for k, v := range i.Extra {
			u.Extra[k] = authenticationv1.ExtraValue(v)
		}
	}
	return u
}

// String names the identity for logs: the user, and the pod for a
// pod-bound token.
func (i Identity) String() string {
	if i.Pod != nil {
		return i.Username + " (pod " + i.Pod.Name + ")"
	}
	return i.Username
}

// Is reports whether the identity is the user named username (for a
// ServiceAccount, ServiceAccountUser).
func (i Identity) Is(username string) bool {
	return username != "" && i.Username == username
}

type identityKey struct{}

// WithIdentity returns a context carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity of the request ctx belongs to; ok is
// false when none was established.
func FromContext(ctx context.Context) (id Identity, ok bool) {
	id, ok = ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// The ServiceAccounts of cdi-functions' own components, as config/
// deploys them in the system namespace.
const (
	EventSourceAccount = "cdi-eventsource"
	ImporterAccount    = "cdi-importer"
	UploaderAccount    = "cdi-uploader"
	ClonerAccount      = "cdi-cloner"
	UpdaterAccount     = "cdi-updater"
)

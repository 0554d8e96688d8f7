package access

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var alice = authenticationv1.UserInfo{Username: "alice", UID: "u1", Groups: []string{"devs"},
	Extra: map[string]authenticationv1.ExtraValue{"scopes": {"a"}}}

// rbac allows alice to create pods in "golden" only, and records what it
// was asked.
func rbac(asked *[]authorizationv1.SubjectAccessReviewSpec, fail bool) *fake.Clientset {
	kube := fake.NewClientset()
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if fail {
			return true, nil, errors.New("connection refused")
		}
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		*asked = append(*asked, sar.Spec)
		r := sar.Spec.ResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "alice" && r.Namespace == "golden" && r.Resource == "pods" && r.Verb == "create"
		return true, sar, nil
	})
	return kube
}

func TestReviewer(t *testing.T) {
	tests := []struct {
		name      string
		attrs     []authorizationv1.ResourceAttributes
		want      bool
		wantAsked int
	}{
		{"clone from golden: datavolumes/source is not granted, pods is", CloneSource("golden"), true, 2},
		{"clone from elsewhere: both asked, neither granted", CloneSource("other"), false, 2},
		{"create claims: not granted", []authorizationv1.ResourceAttributes{CreateClaims("golden")}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []authorizationv1.SubjectAccessReviewSpec
			ok, err := Reviewer(rbac(&asked, false))(context.Background(), alice, tt.attrs...)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ok)
			require.Len(t, asked, tt.wantAsked)
			for _, s := range asked {
				assert.Equal(t, "alice", s.User, "asked with the user's own identity")
				assert.Equal(t, "u1", s.UID)
				assert.Equal(t, []string{"devs"}, s.Groups)
				assert.Equal(t, authorizationv1.ExtraValue{"a"}, s.Extra["scopes"])
			}
		})
	}
	var asked []authorizationv1.SubjectAccessReviewSpec
	_, err := Reviewer(rbac(&asked, true))(context.Background(), alice, CreateClaims("golden"))
	assert.ErrorContains(t, err, "persistentvolumeclaims", "an API failure is an error, never a refusal")
}

func TestMessagesNameTheFix(t *testing.T) {
	assert.Contains(t, MissingClonePermission("bob", "golden"), "bind the ClusterRole cdi.kubevirt.io:clone-sourcer in golden")
	assert.Contains(t, MissingClaimPermission("bob", "dev"), "may not create persistentvolumeclaims in namespace dev")
	assert.Equal(t, "datavolumes/source.cdi.kubevirt.io", Describe(CloneSource("x")[0]))
}

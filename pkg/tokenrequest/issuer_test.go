package tokenrequest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

func uploadClaim(name string, ann map[string]string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
		Namespace: "vms", Name: name, UID: types.UID("uid-" + name), Annotations: ann,
	}}
}

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func TestIssue(t *testing.T) {
	alice := authenticationv1.UserInfo{Username: "alice", UID: "a-1", Groups: []string{"team"}, Extra: map[string]authenticationv1.ExtraValue{"scopes": {"x"}}}
	tests := []struct {
		name      string
		allowed   bool
		claim     string
		wantErr   error
		wantInErr string
	}{
		{name: "allowed upload target", allowed: true, claim: "target"},
		{name: "may not update the claim", allowed: false, claim: "target", wantErr: ErrForbidden,
			wantInErr: `user "alice" may not update persistentvolumeclaims "target" in namespace "vms"`},
		{name: "not an upload target", allowed: true, claim: "plain", wantErr: ErrNoTarget, wantInErr: "annotate it " + annotations.UploadTarget},
		{name: "no such claim", allowed: true, claim: "missing", wantErr: ErrNoTarget, wantInErr: "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(
				uploadClaim("target", map[string]string{annotations.UploadTarget: ""}),
				uploadClaim("plain", nil),
			)
			var review *authorizationv1.SubjectAccessReview
			client.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
				review = a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
				out := review.DeepCopy()
				out.Status.Allowed = tt.allowed
				return true, out, nil
			})
			data, err := uploadtoken.NewSecretData()
			require.NoError(t, err)
			ks, err := uploadtoken.ParseKeys(data)
			require.NoError(t, err)
			is := &Issuer{Keys: ks, Kube: client, Now: func() time.Time { return t0 }}
			tok, err := is.Issue(context.Background(), alice, "vms", tt.claim)

			require.NotNil(t, review, "a SubjectAccessReview first")
			assert.Equal(t, "alice", review.Spec.User)
			assert.Equal(t, []string{"team"}, review.Spec.Groups)
			assert.Equal(t, authorizationv1.ExtraValue{"x"}, review.Spec.Extra["scopes"])
			assert.Equal(t, authorizationv1.ResourceAttributes{Namespace: "vms", Verb: "update", Resource: "persistentvolumeclaims", Name: tt.claim},
				*review.Spec.ResourceAttributes)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.ErrorContains(t, err, tt.wantInErr)
				assert.Empty(t, tok)
				return
			}
			require.NoError(t, err)
			s, err := ks.Verify(tok, t0.Add(time.Minute))
			require.NoError(t, err)
			assert.True(t, s.Allows(uploadtoken.OperationUpload, "vms", "target", "uid-target"))
		})
	}
}

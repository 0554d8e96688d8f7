package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// jwt builds an unsigned JWT with the given claims: enough for peek; the
// fake API server decides whether it is valid.
func jwt(t *testing.T, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "ES256"}) + "." + enc(claims) + ".c2ln"
}

func validToken(t *testing.T, sub string) string {
	return jwt(t, map[string]any{"aud": []string{Audience}, "exp": now.Add(10 * time.Minute).Unix(), "sub": sub})
}

// apiServer is a fake API server answering TokenReviews from a table of
// token → user; it counts the reviews.
type apiServer struct {
	kube    *fake.Clientset
	users   map[string]authenticationv1.UserInfo
	reviews int
	err     error
}

func newAPIServer() *apiServer {
	a := &apiServer{kube: fake.NewClientset(), users: map[string]authenticationv1.UserInfo{}}
	a.kube.PrependReactor("create", "tokenreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		a.reviews++
		if a.err != nil {
			return true, nil, a.err
		}
		tr := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		if u, ok := a.users[tr.Spec.Token]; ok && len(tr.Spec.Audiences) == 1 && tr.Spec.Audiences[0] == Audience {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: u, Audiences: tr.Spec.Audiences}
		} else {
			tr.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token, service account token has been invalidated"}
		}
		return true, tr, nil
	})
	return a
}

func TestAuthenticate(t *testing.T) {
	good := validToken(t, "system:serviceaccount:cdi:cdi-eventsource")
	pod := validToken(t, "system:serviceaccount:vms:default")
	revoked := validToken(t, "system:serviceaccount:vms:gone")
	tests := []struct {
		name        string
		token       string
		want        Identity
		wantErr     string
		wantReviews int
	}{
		{
			name: "event source", token: good, wantReviews: 1,
			want: Identity{Username: "system:serviceaccount:cdi:cdi-eventsource", UID: "sa-1",
				ServiceAccount: &ServiceAccount{Namespace: "cdi", Name: "cdi-eventsource"}},
		},
		{
			name: "token bound to a data pod", token: pod, wantReviews: 1,
			want: Identity{Username: "system:serviceaccount:vms:default", UID: "sa-2",
				Extra:          map[string][]string{extraPodName: {"importer-disk"}, extraPodUID: {"pod-1"}},
				ServiceAccount: &ServiceAccount{Namespace: "vms", Name: "default"},
				Pod:            &Pod{Name: "importer-disk", UID: "pod-1"}},
		},
		{name: "no token", token: "", wantErr: "no bearer token"},
		{name: "not a JWT", token: "secret-password", wantErr: "not a JWT"},
		{name: "payload not JSON", token: "a." + base64.RawURLEncoding.EncodeToString([]byte("{")) + ".c", wantErr: "not JSON"},
		{name: "too long", token: string(make([]byte, maxTokenLength+1)), wantErr: "longer than"},
		{
			name:    "expired",
			token:   jwt(t, map[string]any{"aud": Audience, "exp": now.Add(-time.Second).Unix()}),
			wantErr: "token expired at 2026-12-02T11:59:59Z",
		},
		{name: "no expiry", token: jwt(t, map[string]any{"aud": Audience}), wantErr: "no expiry"},
		{
			name:    "the API server's audience",
			token:   jwt(t, map[string]any{"aud": []string{"https://kubernetes.default.svc.cluster.local"}, "exp": now.Add(time.Hour).Unix()}),
			wantErr: `not for audience "cdi-functions"`,
		},
		{name: "revoked (its pod is gone)", token: revoked, wantErr: "has been invalidated", wantReviews: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newAPIServer()
			api.users[good] = authenticationv1.UserInfo{Username: "system:serviceaccount:cdi:cdi-eventsource", UID: "sa-1"}
			api.users[pod] = authenticationv1.UserInfo{Username: "system:serviceaccount:vms:default", UID: "sa-2",
				Extra: map[string]authenticationv1.ExtraValue{extraPodName: {"importer-disk"}, extraPodUID: {"pod-1"}}}
			r := NewReviewer(api.kube, ReviewerOptions{Now: func() time.Time { return now }})
			id, err := r.Authenticate(context.Background(), tt.token)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrUnauthenticated)
				assert.ErrorContains(t, err, tt.wantErr)
				if len(tt.token) > 8 {
					assert.NotContains(t, err.Error(), tt.token[len(tt.token)-8:], "errors never carry the token")
				}
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.want, id)
			}
			assert.Equal(t, tt.wantReviews, api.reviews, "TokenReviews made")
		})
	}
}

func TestAuthenticateCaches(t *testing.T) {
	api := newAPIServer()
	good := validToken(t, "a")
	bad := validToken(t, "b")
	api.users[good] = authenticationv1.UserInfo{Username: "system:serviceaccount:cdi:cdi-eventsource"}
	clock := now
	r := NewReviewer(api.kube, ReviewerOptions{TTL: time.Minute, NegativeTTL: 10 * time.Second, Now: func() time.Time { return clock }})
	ctx := context.Background()

	for range 3 {
		_, err := r.Authenticate(ctx, good)
		require.NoError(t, err)
		_, err = r.Authenticate(ctx, bad)
		require.ErrorIs(t, err, ErrUnauthenticated)
	}
	assert.Equal(t, 2, api.reviews, "one review per token while cached")

	clock = clock.Add(11 * time.Second)
	_, err := r.Authenticate(ctx, bad)
	require.ErrorIs(t, err, ErrUnauthenticated)
	_, err = r.Authenticate(ctx, good)
	require.NoError(t, err)
	assert.Equal(t, 3, api.reviews, "a refusal is asked again after NegativeTTL, an acceptance is kept for TTL")

	clock = clock.Add(time.Minute)
	_, err = r.Authenticate(ctx, good)
	require.NoError(t, err)
	assert.Equal(t, 4, api.reviews, "asked again after TTL")

	clock = now.Add(10 * time.Minute)
	_, err = r.Authenticate(ctx, good)
	require.ErrorIs(t, err, ErrUnauthenticated, "never accepted past its expiry, whatever the cache says")
	assert.Equal(t, 4, api.reviews)
}

func TestAuthenticateAPIError(t *testing.T) {
	api := newAPIServer()
	api.err = apierrors.NewServiceUnavailable("etcd")
	good := validToken(t, "a")
	api.users[good] = authenticationv1.UserInfo{Username: "u"}
	r := NewReviewer(api.kube, ReviewerOptions{Now: func() time.Time { return now }})
	_, err := r.Authenticate(context.Background(), good)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrUnauthenticated), "API trouble is not the sender's fault: retry")
	api.err = nil
	_, err = r.Authenticate(context.Background(), good)
	require.NoError(t, err, "API trouble is not cached")
}

func TestBearerToken(t *testing.T) {
	for _, tt := range []struct{ header, want string }{
		{"Bearer abc", "abc"},
		{"bearer  abc ", "abc"},
		{"Basic dXNlcjpwYXNz", ""},
		{"", ""},
		{"Bearer", ""},
	} {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Authorization", tt.header)
		}
		assert.Equal(t, tt.want, BearerToken(h), tt.header)
	}
}

func TestSenderToken(t *testing.T) {
	for _, tt := range []struct {
		name                 string
		authorization, event string
		want                 string
	}{
		{"direct: the bearer token", "Bearer abc", "", "abc"},
		{"through a Broker: the event's token, not the Broker's", "Bearer broker-oidc", "abc", "abc"},
		{"through a Broker without its own credentials", "", " abc ", "abc"},
		{"neither", "", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.authorization != "" {
				h.Set("Authorization", tt.authorization)
			}
			if tt.event != "" {
				h.Set(TokenHeader, tt.event)
			}
			assert.Equal(t, tt.want, SenderToken(h))
		})
	}
}

func TestFileToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte("one\n"), 0o600))
	clock := now
	f := NewFileToken(path)
	f.now = func() time.Time { return clock }
	tok, err := f.Token()
	require.NoError(t, err)
	assert.Equal(t, "one", tok)

	require.NoError(t, os.WriteFile(path, []byte("two"), 0o600))
	tok, _ = f.Token()
	assert.Equal(t, "one", tok, "not re-read within the refresh interval")
	clock = clock.Add(time.Minute)
	tok, _ = f.Token()
	assert.Equal(t, "two", tok, "the kubelet's rotation is picked up")

	require.NoError(t, os.WriteFile(path, nil, 0o600))
	clock = clock.Add(time.Minute)
	_, err = f.Token()
	assert.ErrorContains(t, err, "empty")
	_, err = NewFileToken(filepath.Join(t.TempDir(), "missing")).Token()
	assert.ErrorContains(t, err, "read token")
}

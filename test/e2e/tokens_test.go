//go:build e2e

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cdi-functions/cdi-functions/pkg/auth"
)

// The tokens an attacker (or a test playing one) can get hold of.

// podToken is a token for audience bound to pod, as the kubelet projects
// it into the pod (TokenRequest with the pod as bound object): what
// anything running in that pod can read.
func podToken(t *testing.T, pod *corev1.Pod, audience string) string {
	t.Helper()
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := e2e.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(context.Background(), sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{audience},
			ExpirationSeconds: ptrTo[int64](600),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err, "token for pod %s/%s", pod.Namespace, pod.Name)
	return tr.Status.Token
}

// componentToken is a token of one of cdi-functions' own ServiceAccounts
// (auth.EventSourceAccount, …) for auth.Audience.
func componentToken(t *testing.T, account string) string {
	t.Helper()
	tr, err := e2e.client.CoreV1().ServiceAccounts("cdi").CreateToken(context.Background(), account, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{auth.Audience}, ExpirationSeconds: ptrTo[int64](3600)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tr.Status.Token
}

// signedPodToken mints a token bound to pod with the cluster's own
// ServiceAccount signing key (the local cluster's pki/sa.key), valid from
// issued for lifetime: with a lifetime in the past it is a real token of
// the real issuer that has expired, which TokenRequest never hands out.
func signedPodToken(t *testing.T, pod *corev1.Pod, issued time.Time, lifetime time.Duration) string {
	t.Helper()
	ctx := context.Background()
	sa, err := e2e.client.CoreV1().ServiceAccounts(pod.Namespace).Get(ctx, "default", metav1.GetOptions{})
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(stateDir(), "pki", "sa.key"))
	require.NoError(t, err)
	block, _ := pem.Decode(b)
	require.NotNil(t, block, "sa.key is PEM")
	key, err := x509.ParseECPrivateKey(block.Bytes)
	require.NoError(t, err, "the local cluster signs with an EC key")
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	kid := sha256.Sum256(der)

	enc := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	header := enc(map[string]string{"alg": "ES256", "kid": base64.RawURLEncoding.EncodeToString(kid[:])})
	claims := enc(map[string]any{
		"iss": "https://kubernetes.default.svc.cluster.local",
		"sub": auth.ServiceAccountUser(pod.Namespace, "default"),
		"aud": []string{auth.Audience},
		"iat": issued.Unix(), "nbf": issued.Unix(), "exp": issued.Add(lifetime).Unix(),
		"jti": fmt.Sprintf("e2e-%d", issued.UnixNano()),
		"kubernetes.io": map[string]any{
			"namespace":      pod.Namespace,
			"pod":            map[string]string{"name": pod.Name, "uid": string(pod.UID)},
			"serviceaccount": map[string]string{"name": "default", "uid": string(sa.UID)},
		},
	})
	digest := sha256.Sum256([]byte(header + "." + claims))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	require.NoError(t, err)
	sig := append(pad32(r), pad32(s)...)
	return header + "." + claims + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func pad32(n *big.Int) []byte {
	b := n.Bytes()
	return append(make([]byte, 32-len(b)), b...)
}

// serviceURL is the in-cluster address of a Service of the system
// namespace, by ClusterIP (reachable from this host: kube-proxy's rules
// apply to the host's own traffic).
func serviceURL(t *testing.T, name string) string {
	t.Helper()
	svc, err := e2e.client.CoreV1().Services("cdi").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
}

// post sends e to url as a binary-mode CloudEvent with the bearer token
// (none when empty) and returns the HTTP status and the answer.
func post(t *testing.T, url, token string, e cloudevents.Event) (int, string) {
	t.Helper()
	return postWithin(t, 30*time.Second, url, token, e)
}

// postWithin is post with a deadline of its own.
func postWithin(t *testing.T, timeout time.Duration, url, token string, e cloudevents.Event) (int, string) {
	t.Helper()
	var opts []cehttp.Option
	if token != "" {
		opts = append(opts, cehttp.WithHeader("Authorization", "Bearer "+token))
	}
	c, err := cloudevents.NewClientHTTP(opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res := c.Send(cloudevents.ContextWithTarget(ctx, url), e)
	var httpRes *cehttp.Result
	require.True(t, cloudevents.ResultAs(res, &httpRes), "an HTTP answer from %s: %v", url, res)
	return httpRes.StatusCode, res.Error()
}

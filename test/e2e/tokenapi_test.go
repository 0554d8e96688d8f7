//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// seedUploadToken is the 2018 post's upload-token.yaml, verbatim.
const seedUploadToken = `apiVersion: upload.cdi.kubevirt.io/v1alpha1
kind: UploadTokenRequest
metadata:
  name: upload-pvc
  namespace: default
spec:
  pvcName: upload-pvc
`

// TestUploadTokenRequest plays the 2018 post's "Start uploading disk
// image" with the real kubectl against the UploadTokenRequest API
// (tokenapi, an aggregated API server): apply prints a token scoped to the
// claim, again a fresh one; create and v1beta1 work; a caller who may not
// update the claim is refused with the permission named; and a request
// straight to tokenapi's Service with forged identity headers is refused.
func TestUploadTokenRequest(t *testing.T) {
	ctx := context.Background()
	waitAPIServicesAvailable(t)
	claim := uploadClaim(t)
	keys := tokenKeys(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "upload-token.yaml")
	require.NoError(t, os.WriteFile(file, []byte(seedUploadToken), 0o600))
	kubectl := kubectlIn(t, filepath.Join(dir, "cache"))

	verify := func(t *testing.T, token string) {
		t.Helper()
		s, err := keys.Verify(token, time.Now())
		require.NoError(t, err, "the token verifies with the keys of Secret cdi/%s", uploadtoken.SecretName)
		assert.True(t, s.Allows(uploadtoken.OperationUpload, "default", "upload-pvc", string(claim.UID)), "scope %s", s)
	}

	var first string
	t.Run("kubectl apply prints a token", func(t *testing.T) {
		start := time.Now()
		out, errOut, err := kubectl("apply", "-f", file, "-o=jsonpath={.status.token}")
		require.NoError(t, err, errOut)
		t.Logf("kubectl apply (cold discovery cache): %s", time.Since(start).Round(time.Millisecond))
		assert.Empty(t, errOut, "no warning")
		first = out
		verify(t, first)
	})
	t.Run("again a fresh token", func(t *testing.T) {
		start := time.Now()
		out, errOut, err := kubectl("apply", "-f", file, "-o=jsonpath={.status.token}")
		require.NoError(t, err, errOut)
		t.Logf("kubectl apply (warm): %s", time.Since(start).Round(time.Millisecond))
		assert.Empty(t, errOut, "no warning")
		assert.NotEqual(t, first, out)
		verify(t, out)
	})
	t.Run("kubectl create", func(t *testing.T) {
		out, errOut, err := kubectl("create", "-f", file, "-o=jsonpath={.status.token}")
		require.NoError(t, err, errOut)
		assert.Empty(t, errOut, "no warning")
		verify(t, out)
	})
	t.Run("v1beta1", func(t *testing.T) {
		f := filepath.Join(dir, "v1beta1.yaml")
		require.NoError(t, os.WriteFile(f, []byte(strings.Replace(seedUploadToken, "v1alpha1", "v1beta1", 1)), 0o600))
		out, errOut, err := kubectl("apply", "-f", f, "-o=jsonpath={.status.token}")
		require.NoError(t, err, errOut)
		assert.Empty(t, errOut, "no warning")
		verify(t, out)
	})
	t.Run("nothing is stored", func(t *testing.T) {
		_, errOut, err := kubectl("get", "uploadtokenrequests.upload.cdi.kubevirt.io", "upload-pvc", "-n", "default")
		require.Error(t, err)
		assert.Contains(t, errOut, `Error from server (NotFound): uploadtokenrequests.upload.cdi.kubevirt.io "upload-pvc" not found`)
	})
	t.Run("a user who may not update the claim is refused", func(t *testing.T) {
		ns := newNamespace(t)
		who := "system:serviceaccount:" + ns + ":default"
		// Without any RBAC the kube-apiserver refuses before forwarding.
		_, errOut, err := kubectl("--as="+who, "apply", "-f", file, "-o=jsonpath={.status.token}")
		require.Error(t, err)
		assert.Contains(t, errOut, "cannot get resource \"uploadtokenrequests\"")
		// May ask for tokens in default, may not update the claim: tokenapi's
		// SubjectAccessReview refuses, naming the permission.
		rb, err := e2e.client.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-upload-token-requester-"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cdi-functions:upload-token-requester"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: ns}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = e2e.client.RbacV1().RoleBindings("default").Delete(context.Background(), rb.Name, metav1.DeleteOptions{})
		})
		eventually(t, 10*time.Second, "the RoleBinding in effect", func(context.Context) (bool, error) {
			out, _, err := kubectl("--as="+who, "auth", "can-i", "create", "uploadtokenrequests.upload.cdi.kubevirt.io", "-n", "default")
			return err == nil && strings.TrimSpace(out) == "yes", nil
		})
		out, errOut, err := kubectl("--as="+who, "apply", "-f", file, "-o=jsonpath={.status.token}")
		require.Error(t, err)
		assert.Empty(t, out, "no token")
		assert.Contains(t, errOut, "Error from server (Forbidden)")
		assert.Contains(t, errOut, fmt.Sprintf(`user %q may not update persistentvolumeclaims "upload-pvc" in namespace "default"`, who))
	})
	t.Run("forged identity headers straight to the Service are refused", func(t *testing.T) {
		svc, err := e2e.client.CoreV1().Services("cdi").Get(ctx, "cdi-tokenapi", metav1.GetOptions{})
		require.NoError(t, err)
		url := fmt.Sprintf("https://%s:%d/apis/upload.cdi.kubevirt.io/v1alpha1/namespaces/default/uploadtokenrequests",
			svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
		// Trust tokenapi's own CA (as the aggregator does): the refusal is
		// tokenapi's, not a TLS failure.
		certs, err := e2e.client.CoreV1().Secrets("cdi").Get(ctx, "cdi-tokenapi-certs", metav1.GetOptions{})
		require.NoError(t, err)
		roots := x509.NewCertPool()
		require.True(t, roots.AppendCertsFromPEM(certs.Data["ca-cert.pem"]))
		adminCert := clusterAdminCert(t)
		for name, clientCerts := range map[string][]tls.Certificate{
			"no client certificate":                        nil,
			"the cluster admin's certificate (cluster CA)": {adminCert},
		} {
			t.Run(name, func(t *testing.T) {
				c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
					RootCAs: roots, ServerName: "cdi-tokenapi.cdi.svc", Certificates: clientCerts,
				}}}
				body, err := json.Marshal(map[string]any{
					"apiVersion": "upload.cdi.kubevirt.io/v1alpha1", "kind": "UploadTokenRequest",
					"metadata": map[string]any{"name": "upload-pvc", "namespace": "default"},
					"spec":     map[string]any{"pvcName": "upload-pvc"},
				})
				require.NoError(t, err)
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Remote-User", "system:admin")
				req.Header.Set("X-Remote-Group", "system:masters")
				res, err := c.Do(req)
				require.NoError(t, err)
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				assert.Equal(t, http.StatusUnauthorized, res.StatusCode, string(b))
				assert.NotContains(t, string(b), `"token"`)
			})
		}
	})
}

// waitAPIServicesAvailable waits for both APIServices of the group to be
// Available (tokenapi set their caBundle and answers discovery).
func waitAPIServicesAvailable(t *testing.T) {
	t.Helper()
	eventually(t, 60*time.Second, "APIServices v1alpha1/v1beta1.upload.cdi.kubevirt.io Available", func(ctx context.Context) (bool, error) {
		for _, v := range []string{"v1alpha1", "v1beta1"} {
			raw, err := e2e.client.Discovery().RESTClient().Get().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices/" + v + ".upload.cdi.kubevirt.io").DoRaw(ctx)
			if err != nil {
				return false, nil
			}
			var svc struct {
				Status struct {
					Conditions []struct{ Type, Status string } `json:"conditions"`
				} `json:"status"`
			}
			if err := json.Unmarshal(raw, &svc); err != nil {
				return false, err
			}
			ok := false
			for _, c := range svc.Status.Conditions {
				ok = ok || (c.Type == "Available" && c.Status == "True")
			}
			if !ok {
				return false, nil
			}
		}
		return true, nil
	})
}

// uploadClaim is the seed's upload-pvc.yaml in namespace default: created
// (and deleted afterwards) unless it is there already.
func uploadClaim(t *testing.T) *corev1.PersistentVolumeClaim {
	t.Helper()
	ctx := context.Background()
	claims := e2e.client.CoreV1().PersistentVolumeClaims("default")
	c, err := claims.Get(ctx, "upload-pvc", metav1.GetOptions{})
	if err == nil {
		require.Contains(t, c.Annotations, annotations.UploadTarget, "default/upload-pvc exists and is no upload target")
		return c
	}
	require.True(t, apierrors.IsNotFound(err), "get default/upload-pvc: %v", err)
	c, err = claims.Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "upload-pvc", Labels: map[string]string{"app": "containerized-data-importer"},
			Annotations: map[string]string{annotations.UploadTarget: ""}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = claims.Delete(context.Background(), "upload-pvc", metav1.DeleteOptions{}) })
	return c
}

// tokenKeys are the keys tokenapi signs with (Secret cdi/cdi-upload-token-keys).
func tokenKeys(t *testing.T) *uploadtoken.Keys {
	t.Helper()
	s, err := e2e.client.CoreV1().Secrets("cdi").Get(context.Background(), uploadtoken.SecretName, metav1.GetOptions{})
	require.NoError(t, err)
	ks, err := uploadtoken.ParseKeys(s.Data)
	require.NoError(t, err)
	return ks
}

// kubectlIn returns a runner of the real kubectl (the cluster's, first on
// PATH under make e2e) as the cluster admin, with its discovery cache in
// cacheDir; it returns standard output, standard error and the exit error.
func kubectlIn(t *testing.T, cacheDir string) func(args ...string) (string, string, error) {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	require.NoError(t, err, "kubectl on PATH (make e2e puts the cluster's first)")
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		kubeconfig = filepath.Join(stateDir(), "kubeconfig")
	}
	return func(args ...string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig, "--cache-dir", cacheDir}, args...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
}

// clusterAdminCert is the client certificate of the admin kubeconfig
// (signed by the cluster CA, not the front proxy's).
func clusterAdminCert(t *testing.T) tls.Certificate {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(filepath.Join(stateDir(), "pki", "admin.kubeconfig"))
	require.NoError(t, err)
	for _, u := range cfg.AuthInfos {
		cert, err := tls.X509KeyPair(u.ClientCertificateData, u.ClientKeyData)
		require.NoError(t, err)
		return cert
	}
	t.Fatal("no user in admin.kubeconfig")
	return tls.Certificate{}
}

//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy/tus"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// seedUploadPVC is the 2018 post's upload-pvc.yaml, verbatim.
const seedUploadPVC = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: upload-pvc
  labels:
    app: containerized-data-importer
  annotations:
    cdi.kubevirt.io/storage.upload.target: ""
spec:
  accessModes:
    - ReadWriteOnce
  resources:
    requests:
      storage: 1Gi
`

// seedUploadSteps are the 2018 post's three steps of "Upload an image",
// verbatim but the image's path and $(minikube ip), which is $NODE.
const seedUploadSteps = `
kubectl apply -f upload-pvc.yaml
TOKEN=$(kubectl apply -f upload-token.yaml -o="jsonpath={.status.token}")
curl -v --insecure -H "Authorization: Bearer $TOKEN" --data-binary @disk.qcow2 https://$NODE:31001/v1alpha1/upload
`

// uploadGroup runs the upload scenarios that run side by side (in both
// profiles): the post's curl flow and the restricted ones.
func uploadGroup(t *testing.T, im *uploadImages, proxy string) {
	t.Run("SeedCurlFlowVerbatim", func(t *testing.T) { testSeedCurlFlow(t, im) })
	t.Run("restricted", func(t *testing.T) { uploadScenarios(t, im, proxy) })
}

// testUploads runs the upload scenarios (issue 8) on the deployed
// cdi-functions: the 2018 post's curl flow with the real kubectl and curl,
// every format and endpoint byte-exact, the attacker's moves against
// tokens, the upload pods and the updater, side by side in their own
// namespaces (all but the post's flow enforce the restricted Pod Security
// level); then cdictl through a network that breaks and a proxy that is
// killed, alone, since it kills the proxy every upload goes through.
func testUploads(t *testing.T) {
	cdictl := buildCdictl(t)
	waitUploadComponents(t)
	im := makeUploadImages(t)
	proxy := uploadProxyURL(t)
	t.Run("parallel", func(t *testing.T) { uploadGroup(t, im, proxy) })
	t.Run("CdictlResumesThroughCutsAndAProxyRestart", func(t *testing.T) { testCdictlResumes(t, im, cdictl(t)) })
}

// testSeedCurlFlow runs the 2018 post's "Upload an image" as written, with
// the real kubectl and curl: its upload-pvc.yaml verbatim, its
// upload-token.yaml with only the namespace changed (the kubeconfig's
// context names the same test namespace, so the post's commands need no
// -n), and its curl of a qcow2 to the proxy's NodePort on the node's
// InternalIP. The claim ends Succeeded with an UploadSucceeded Event, and
// disk.img is qemu-img's raw conversion of the qcow2, byte for byte.
func testSeedCurlFlow(t *testing.T, im *uploadImages) {
	t.Parallel()
	ns := newNamespace(t)
	logOnFailure(t, ns)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "upload-pvc.yaml"), []byte(seedUploadPVC), 0o600))
	token := strings.Replace(seedUploadToken, "namespace: default", "namespace: "+ns, 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "upload-token.yaml"), []byte(token), 0o600))
	require.NoError(t, os.Symlink(im.path("disk.qcow2"), filepath.Join(dir, "disk.qcow2")))
	kubeconfig := kubeconfigFor(t, dir, ns)
	kubectl, err := exec.LookPath("kubectl")
	require.NoError(t, err, "kubectl on PATH (make e2e puts the cluster's first)")
	curl, err := exec.LookPath("curl")
	require.NoError(t, err, "curl (make setup installs it)")

	cmd := exec.Command("bash", "-euo", "pipefail", "-c", seedUploadSteps)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "KUBECACHEDIR="+filepath.Join(dir, "cache"), "NODE="+nodeIP(t),
		"PATH="+filepath.Dir(kubectl)+":"+filepath.Dir(curl)+":"+os.Getenv("PATH"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	require.NoError(t, cmd.Run(), "the post's steps:\nstdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	t.Logf("the post's three steps took %s", timeSince(start))
	assert.Contains(t, out.String(), "persistentvolumeclaim/upload-pvc created")
	assert.Regexp(t, regexp.MustCompile(`(?m)^< HTTP/[0-9.]+ 200`), errOut.String(), "curl -v shows a 200:\n%s", errOut.String())
	requireUploaded(t, ns, "upload-pvc", im.file(t, "disk.qcow2.raw"))
}

// kubeconfigFor writes into dir a copy of the suite's kubeconfig whose
// current context's namespace is ns, and returns its path.
func kubeconfigFor(t *testing.T, dir, ns string) string {
	t.Helper()
	src := os.Getenv("KUBECONFIG")
	if src == "" {
		src = filepath.Join(stateDir(), "kubeconfig")
	}
	cfg, err := clientcmd.LoadFromFile(src)
	require.NoError(t, err)
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	require.True(t, ok, "current context of %s", src)
	ctx.Namespace = ns
	path := filepath.Join(dir, "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// uploadScenarios are the scenarios that share the proxy; they run in
// parallel, each in a namespace enforcing the restricted level.
func uploadScenarios(t *testing.T, im *uploadImages, proxy string) {
	formats := []struct {
		name, file, path string
		want             string // the image disk.img must hold
	}{
		{"raw.xz", "disk.raw.xz", "/v1beta1/upload", "disk.raw"},
		{"iso", "disk.iso", "/v1alpha1/upload", "disk.iso"},
	}
	for _, f := range formats {
		t.Run("Format/"+f.name, func(t *testing.T) {
			t.Parallel()
			ns := uploadNamespace(t)
			createClaim(t, ns, uploadTarget("disk", "64Mi"))
			waitUploadReady(t, ns, "disk")
			a := postFile(t, proxy+f.path, requestToken(t, "v1alpha1", ns, "disk"), im.path(f.file))
			require.Equal(t, http.StatusOK, a.code, "%s", a)
			requireUploaded(t, ns, "disk", im.file(t, f.want))
		})
	}
	t.Run("Format/tar archive", func(t *testing.T) {
		t.Parallel()
		ns := uploadNamespace(t)
		createClaim(t, ns, uploadTarget("tree", "64Mi"))
		waitUploadReady(t, ns, "tree")
		a := postFile(t, proxy+"/v1beta1/upload", requestToken(t, "v1beta1", ns, "tree"), im.path("tree.tar"),
			"x-cdi-content-type", "archive")
		require.Equal(t, http.StatusOK, a.code, "%s", a)
		c := waitUploadFinal(t, ns, "tree")
		require.Equal(t, annotations.PhaseSucceeded, c.Annotations[annotations.PodPhase], "%v", c.Annotations)
		dir := volumeDir(t, c)
		assert.Equal(t, "hello\n", string(readFile(t, filepath.Join(dir, "sub/a.txt"))))
		assert.Equal(t, im.raw[:100000], readFile(t, filepath.Join(dir, "b.bin")))
		assert.NoFileExists(t, filepath.Join(dir, "disk.img"), "an archive is extracted, not written as a disk")
		waitEvent(t, ns, "tree", "UploadSucceeded", "")
	})

	endpoints := []struct {
		name, path, file string
		form, async      bool
		want             string // the image disk.img must hold
	}{
		{"v1beta1/upload-form", "/v1beta1/upload-form", "disk.qcow2", true, false, "disk.qcow2.raw"},
		{"v1alpha1/upload-form", "/v1alpha1/upload-form", "disk.raw.xz", true, false, "disk.raw"},
		{"v1alpha1/upload-async", "/v1alpha1/upload-async", "disk.qcow2", false, true, "disk.qcow2.raw"},
		{"v1beta1/upload-form-async", "/v1beta1/upload-form-async", "disk.raw.xz", true, true, "disk.raw"},
	}
	for _, e := range endpoints {
		t.Run("Endpoint/"+e.name, func(t *testing.T) {
			t.Parallel()
			ns := uploadNamespace(t)
			createClaim(t, ns, uploadTarget("disk", "64Mi"))
			waitUploadReady(t, ns, "disk")
			token := requestToken(t, "v1beta1", ns, "disk")
			var a answer
			if e.form {
				a = postForm(t, proxy+e.path, token, im.path(e.file))
			} else {
				a = postFile(t, proxy+e.path, token, im.path(e.file))
			}
			require.Equal(t, http.StatusOK, a.code, "%s", a)
			if e.async {
				assert.Contains(t, a.msg, "being imported", "an async answer comes once stored, before the import")
			}
			requireUploaded(t, ns, "disk", im.file(t, e.want))
		})
	}

	t.Run("Attacker/Tokens", func(t *testing.T) { testUploadTokenAttacks(t, im, proxy) })
	t.Run("Attacker/TokenOfAnEarlierClaimOfTheName", func(t *testing.T) { testStaleClaimToken(t, im, proxy) })
	t.Run("Attacker/SecondConcurrentUploadThenAfterSuccess", func(t *testing.T) { testConcurrentAndRepeatedUploads(t, im, proxy) })
	t.Run("Attacker/ImageLargerThanTheClaim", func(t *testing.T) { testUploadTooLarge(t, im, proxy) })
	t.Run("Attacker/ForgedEventsAndDirectRequestsToTheUploadPod", func(t *testing.T) { testForgedUploadPodEvents(t, im, proxy) })
}

// testUploadTokenAttacks plays the attacker against an upload target
// with tokens: none, a tampered signature, a tampered scope, one signed
// by another key, one signed by the real keys (Secret
// cdi/cdi-upload-token-keys) but expired, another claim's token on this
// claim's resumable upload, and a token request by a user who may not
// update the claim. Every one is refused and nothing reaches the claim;
// then the claim's own token uploads it, byte-exact.
func testUploadTokenAttacks(t *testing.T, im *uploadImages, proxy string) {
	t.Parallel()
	ns := uploadNamespace(t)
	createClaim(t, ns, uploadTarget("victim", "64Mi"))
	createClaim(t, ns, uploadTarget("other", "64Mi"))
	waitUploadReady(t, ns, "victim")
	waitUploadReady(t, ns, "other")
	victim := getClaim(t, ns, "victim")
	valid := requestToken(t, "v1alpha1", ns, "victim")
	otherToken := requestToken(t, "v1beta1", ns, "other")
	scope := uploadtoken.Scope{Operation: uploadtoken.OperationUpload, Namespace: ns, Name: "victim", UID: string(victim.UID)}

	keys := tokenKeys(t)
	expired, err := keys.Sign(scope, time.Now().Add(-uploadtoken.Lifetime-2*uploadtoken.Leeway))
	require.NoError(t, err)
	foreignData, err := uploadtoken.NewSecretData()
	require.NoError(t, err)
	foreignKeys, err := uploadtoken.ParseKeys(foreignData)
	require.NoError(t, err)
	foreign, err := foreignKeys.Sign(scope, time.Now())
	require.NoError(t, err)

	upload := proxy + "/v1alpha1/upload"
	for _, tt := range []struct {
		name, token, want string
	}{
		{"no token", "", "missing, malformed or invalid upload token"},
		{"a tampered signature", tamperSignature(valid), "missing, malformed or invalid upload token"},
		{"another claim's token with this claim in its scope", rescope(t, otherToken, "victim", string(victim.UID)), "missing, malformed or invalid upload token"},
		{"signed by another key", foreign, "missing, malformed or invalid upload token"},
		{"expired, signed by the real key", expired, "expired"},
	} {
		a := postFile(t, upload, tt.token, im.path("disk.qcow2"))
		assert.Equal(t, http.StatusUnauthorized, a.code, "%s: %s", tt.name, a)
		assert.Contains(t, a.msg, tt.want, tt.name)
		assert.Contains(t, a.hdr.Get("WWW-Authenticate"), "Bearer", tt.name)
		if tt.token != "" {
			assert.NotContains(t, a.msg, tt.token, "%s: the answer never repeats the token", tt.name)
		}
	}

	// The other claim's token opens the other claim only: its upload of
	// this claim's resumable upload (named by this claim's UID) is refused.
	tusURL := proxy + "/v1beta1/upload-tus/" + string(victim.UID)
	a := send(t, http.MethodHead, tusURL, otherToken, nil, 0, tus.HeaderResumable, tus.Version)
	assert.Equal(t, http.StatusNotFound, a.code, "HEAD of this claim's upload with another claim's token: %s", a)
	a = send(t, http.MethodPatch, tusURL, otherToken, bytes.NewReader(im.raw[:1<<20]), 1<<20,
		tus.HeaderResumable, tus.Version, tus.HeaderOffset, "0", "Content-Type", tus.ContentType)
	assert.Equal(t, http.StatusNotFound, a.code, "PATCH of this claim's upload with another claim's token: %s", a)

	// A user who may not update the claim gets no token, and is told which
	// permission is missing: by the kube-apiserver without any RBAC, by
	// tokenapi when they may ask for tokens but not update the claim.
	dir := t.TempDir()
	file := filepath.Join(dir, "upload-token.yaml")
	require.NoError(t, os.WriteFile(file, []byte(strings.NewReplacer("namespace: default", "namespace: "+ns,
		"upload-pvc", "victim").Replace(seedUploadToken)), 0o600))
	kubectl := kubectlIn(t, filepath.Join(dir, "cache"))
	who := "system:serviceaccount:" + ns + ":default"
	out, errOut, err := kubectl("--as="+who, "create", "-f", file, "-o=jsonpath={.status.token}")
	require.Error(t, err, "a token for %s: %s", who, out)
	assert.Empty(t, out, "no token")
	assert.Contains(t, errOut, `cannot create resource "uploadtokenrequests" in API group "upload.cdi.kubevirt.io"`)
	grantTokenRequests(t, ns)
	eventually(t, 10*time.Second, "the RoleBinding in effect", func(context.Context) (bool, error) {
		out, _, err := kubectl("--as="+who, "auth", "can-i", "create", "uploadtokenrequests.upload.cdi.kubevirt.io", "-n", ns)
		return err == nil && strings.TrimSpace(out) == "yes", nil
	})
	out, errOut, err = kubectl("--as="+who, "create", "-f", file, "-o=jsonpath={.status.token}")
	require.Error(t, err, "a token for %s: %s", who, out)
	assert.Empty(t, out, "no token")
	assert.Contains(t, errOut, "Error from server (Forbidden)")
	assert.Contains(t, errOut, fmt.Sprintf(`user %q may not update persistentvolumeclaims "victim" in namespace %q`, who, ns))

	c := getClaim(t, ns, "victim")
	assert.False(t, annotations.Final(c.Annotations[annotations.PodPhase]), "no refused upload finished the claim: %v", c.Annotations)
	assert.NoFileExists(t, filepath.Join(volumeDir(t, c), "disk.img"), "no refused upload wrote anything")

	// Control: the claim's own token, rightly used, uploads it.
	a = postFile(t, upload, valid, im.path("disk.qcow2"))
	require.Equal(t, http.StatusOK, a.code, "%s", a)
	requireUploaded(t, ns, "victim", im.file(t, "disk.qcow2.raw"))
	o := getClaim(t, ns, "other")
	assert.False(t, annotations.Final(o.Annotations[annotations.PodPhase]), "the other claim was not touched: %v", o.Annotations)
}

// grantTokenRequests binds the default ServiceAccount of ns, in ns, to
// the ClusterRole that lets one ask for upload tokens
// (config/204-tokenapi-rbac.yaml) and to nothing else.
func grantTokenRequests(t *testing.T, ns string) {
	t.Helper()
	_, err := e2e.client.RbacV1().RoleBindings(ns).Create(context.Background(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "upload-token-requester"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cdi-functions:upload-token-requester"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: ns}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// tamperSignature changes the last characters of a JWT's signature.
func tamperSignature(token string) string {
	end := "AAAA"
	if strings.HasSuffix(token, end) {
		end = "BBBB"
	}
	return token[:len(token)-4] + end
}

// rescope rewrites a JWT's payload to name the claim name with uid,
// keeping its header and signature (which no longer match).
func rescope(t *testing.T, token, name, uid string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "a JWT")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(b, &claims))
	require.Contains(t, claims, "pvc", "the token's scope names the claim: %s", b)
	claims["pvc"], claims["uid"] = name, uid
	b, err = json.Marshal(claims)
	require.NoError(t, err)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// testStaleClaimToken: a token for a claim that was deleted and created
// again under its name does not open the new claim (401, the answer says
// why); a token for the new claim does.
func testStaleClaimToken(t *testing.T, im *uploadImages, proxy string) {
	t.Parallel()
	ctx := context.Background()
	ns := uploadNamespace(t)
	claims := e2e.client.CoreV1().PersistentVolumeClaims(ns)
	createClaim(t, ns, uploadTarget("again", "64Mi"))
	waitUploadReady(t, ns, "again")
	first := getClaim(t, ns, "again")
	stale := requestToken(t, "v1alpha1", ns, "again")
	require.NoError(t, claims.Delete(ctx, "again", metav1.DeleteOptions{}))
	waitGone(t, uploadTimeout, "claim "+ns+"/again", func(ctx context.Context) error {
		_, err := claims.Get(ctx, "again", metav1.GetOptions{})
		return err
	})
	createClaim(t, ns, uploadTarget("again", "64Mi"))
	pod := waitUploadReady(t, ns, "again")
	second := getClaim(t, ns, "again")
	require.NotEqual(t, first.UID, second.UID)
	require.True(t, datapod.OwnedBy(second.UID, pod), "the ready upload pod is the new claim's")

	a := postFile(t, proxy+"/v1alpha1/upload", stale, im.path("disk.qcow2"))
	assert.Equal(t, http.StatusUnauthorized, a.code, "%s", a)
	assert.Contains(t, a.msg, "earlier claim of that name")
	c := getClaim(t, ns, "again")
	assert.False(t, annotations.Final(c.Annotations[annotations.PodPhase]), "%v", c.Annotations)

	a = postFile(t, proxy+"/v1alpha1/upload", requestToken(t, "v1alpha1", ns, "again"), im.path("disk.qcow2"))
	require.Equal(t, http.StatusOK, a.code, "%s", a)
	requireUploaded(t, ns, "again", im.file(t, "disk.qcow2.raw"))
}

// testConcurrentAndRepeatedUploads: while one upload into a claim is
// held open midway, a second one is answered 503 with Retry-After; the
// first then completes, byte-exact; an upload after that is 409.
func testConcurrentAndRepeatedUploads(t *testing.T, im *uploadImages, proxy string) {
	t.Parallel()
	ns := uploadNamespace(t)
	createClaim(t, ns, uploadTarget("busy", "64Mi"))
	waitUploadReady(t, ns, "busy")
	token := requestToken(t, "v1beta1", ns, "busy")
	url := proxy + "/v1beta1/upload"

	body := newGatedBody(im.raw, 8<<20)
	defer body.release()
	type result struct {
		a   answer
		err error
	}
	first := make(chan result, 1)
	go func() {
		a, err := do(http.MethodPost, url, token, body, int64(len(im.raw)))
		first <- result{a, err}
	}()
	eventually(t, uploadTimeout, "the first upload midway", func(context.Context) (bool, error) {
		return body.read.Load() >= 8<<20, nil
	})

	// A small body: the answer comes before the body is read, and a large
	// one would still be in the writing when the connection is closed.
	second := send(t, http.MethodPost, url, token, bytes.NewReader(im.raw[:4<<10]), 4<<10)
	assert.Equal(t, http.StatusServiceUnavailable, second.code, "a second upload while the first runs: %s", second)
	assert.NotEmpty(t, second.hdr.Get("Retry-After"), "503 says when to retry")

	body.release()
	r := <-first
	require.NoError(t, r.err, "the first upload")
	require.Equal(t, http.StatusOK, r.a.code, "the first upload: %s", r.a)
	requireUploaded(t, ns, "busy", im.raw)

	again := postFile(t, url, token, im.path("disk.qcow2"))
	assert.Equal(t, http.StatusConflict, again.code, "an upload after success: %s", again)
	requireDiskImage(t, getClaim(t, ns, "busy"), im.raw)
}

// testUploadTooLarge: images larger than the claim are refused while they
// stream (413, or 400 naming the size), and the pod keeps waiting; the
// same image uploaded async is stored, then its import fails: the claim
// ends Failed with an ErrUploadFailed Event.
func testUploadTooLarge(t *testing.T, im *uploadImages, proxy string) {
	t.Parallel()
	ns := uploadNamespace(t)
	createClaim(t, ns, uploadTarget("small", "64Mi"))
	waitUploadReady(t, ns, "small")
	token := requestToken(t, "v1beta1", ns, "small")

	for _, f := range []string{"huge.raw", "big.qcow2"} {
		a := postFile(t, proxy+"/v1beta1/upload", token, im.path(f))
		assert.Contains(t, []int{http.StatusRequestEntityTooLarge, http.StatusBadRequest}, a.code, "%s: %s", f, a)
		assert.Contains(t, a.msg, "larger than", f)
	}
	c := getClaim(t, ns, "small")
	assert.False(t, annotations.Final(c.Annotations[annotations.PodPhase]), "after a refusal the upload pod waits: %v", c.Annotations)

	a := postFile(t, proxy+"/v1beta1/upload-async", token, im.path("big.qcow2"))
	require.Equal(t, http.StatusOK, a.code, "async: stored, then imported: %s", a)
	requireUploadFailed(t, waitUploadFinal(t, ns, "small"), "larger than")
}

// requireUploadFailed checks the claim failed with a message containing
// want, shown both as annotation and as an ErrUploadFailed Warning Event.
func requireUploadFailed(t *testing.T, c *corev1.PersistentVolumeClaim, want string) {
	t.Helper()
	require.Equal(t, annotations.PhaseFailed, c.Annotations[annotations.PodPhase], "claim annotations: %v", c.Annotations)
	require.Contains(t, c.Annotations[annotations.Message], want)
	eventually(t, 30*time.Second, "ErrUploadFailed event on "+c.Name, func(ctx context.Context) (bool, error) {
		evs, err := e2e.client.CoreV1().Events(c.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + c.Name})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == reason.UploadFailed && e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, want) {
				return true, nil
			}
		}
		return false, nil
	})
}

// testForgedUploadPodEvents plays the attacker against a waiting upload:
// events to the updater that claim the upload finished or failed, with no
// token, the attacker's own pod's token, the other upload pod's token and
// an expired token of the victim's own upload pod; an upload request to
// the uploader without a token and from a data pod; and requests straight
// to the victim's upload pod (its pod IP, port 8443) without the proxy's
// credential, with a wrong one and with the user's upload token. Every one
// is refused, nothing changes, and the real upload then ends Succeeded,
// byte-exact, with the first upload pod.
func testForgedUploadPodEvents(t *testing.T, im *uploadImages, proxy string) {
	t.Parallel()
	ctx := context.Background()
	victims := uploadNamespace(t)
	attackers := newNamespace(t)
	createClaim(t, victims, uploadTarget("victim", "64Mi"))
	createClaim(t, victims, uploadTarget("bystander", "64Mi"))
	victimPod := waitUploadReady(t, victims, "victim")
	bystanderPod := waitUploadReady(t, victims, "bystander")
	victim := getClaim(t, victims, "victim")

	attacker := volcheckPod("attacker", "serve", ":8080", "x")
	_, err := e2e.client.CoreV1().Pods(attackers).Create(ctx, attacker, metav1.CreateOptions{})
	require.NoError(t, err)
	waitRunningReady(t, attackers, "attacker")
	attacker, err = e2e.client.CoreV1().Pods(attackers).Get(ctx, "attacker", metav1.GetOptions{})
	require.NoError(t, err)

	claimRef := events.Claim{Namespace: victims, Name: "victim", UID: string(victim.UID)}
	podRef := func(p *corev1.Pod) events.Pod { return events.Pod{Name: p.Name, UID: string(p.UID)} }
	phase := func(pod events.Pod, phase, why string, permanent bool) cloudevents.Event {
		e, err := events.NewDataPodPhase(events.DataPodPhasePayload{Claim: claimRef, Pod: pod, Phase: phase,
			Reason: why, Message: "forged", Permanent: permanent}, time.Now())
		require.NoError(t, err)
		return e
	}
	progress := func(pod events.Pod) cloudevents.Event {
		e, err := events.NewDataPodProgress(events.DataPodProgressPayload{Claim: claimRef, Pod: pod, Stage: "Spooling", Done: 1, Total: 1 << 40}, time.Now())
		require.NoError(t, err)
		return e
	}
	request := func() cloudevents.Event {
		e, err := events.NewUploadRequested(events.UploadRequestedPayload{Claim: claimRef,
			Request: annotations.UploadRequest{ContentType: annotations.ContentTypeKubeVirt}}, time.Now())
		require.NoError(t, err)
		return e
	}
	succeeded := phase(podRef(victimPod), events.PodSucceeded, reason.UploadSucceeded, false)
	updater, uploader := serviceURL(t, "cdi-updater"), serviceURL(t, "cdi-uploader")
	tests := []struct {
		name     string
		url      string
		token    string
		event    cloudevents.Event
		wantCode int
	}{
		{"no token: Succeeded", updater, "", succeeded, http.StatusUnauthorized},
		{"no token: Failed for good", updater, "", phase(podRef(victimPod), events.PodFailed, reason.UploadFailed, true), http.StatusUnauthorized},
		{"the attacker's pod naming the victim's upload pod", updater, podToken(t, attacker, auth.Audience), succeeded, http.StatusForbidden},
		{"the attacker's pod as itself", updater, podToken(t, attacker, auth.Audience),
			phase(podRef(attacker), events.PodSucceeded, reason.UploadSucceeded, false), http.StatusForbidden},
		{"the other upload pod of the namespace", updater, podToken(t, bystanderPod, auth.Audience),
			phase(podRef(bystanderPod), events.PodSucceeded, reason.UploadSucceeded, false), http.StatusForbidden},
		{"an expired token of the victim's own upload pod", updater, signedPodToken(t, victimPod, time.Now().Add(-2*time.Hour), time.Hour),
			succeeded, http.StatusUnauthorized},
		{"an upload request without a token", uploader, "", request(), http.StatusUnauthorized},
		{"an upload request from a data pod", uploader, podToken(t, bystanderPod, auth.Audience), request(), http.StatusForbidden},
		// Positive control: the victim's upload pod's own token, rightly
		// used, passes, so the refusals above are those of the forgeries.
		{"control: the victim's upload pod reports its own progress", updater, podToken(t, victimPod, auth.Audience),
			progress(podRef(victimPod)), http.StatusAccepted},
	}
	for _, tt := range tests {
		code, msg := post(t, tt.url, tt.token, tt.event)
		assert.Equal(t, tt.wantCode, code, "%s: %s", tt.name, msg)
		if tt.token != "" {
			assert.NotContains(t, msg, tt.token, "%s: the answer never repeats the token", tt.name)
		}
	}

	// Straight to the upload pod, past the proxy.
	direct := "https://" + victimPod.Status.PodIP + ":" + strconv.Itoa(datapod.UploadPort) + "/upload"
	userToken := requestToken(t, "v1beta1", victims, "victim")
	for _, tt := range []struct{ name, token string }{
		{"no credential", ""},
		{"a wrong credential", "not-the-credential"},
		{"the user's upload token", userToken},
	} {
		a := postFile(t, direct, tt.token, im.path("disk.qcow2"))
		assert.Equal(t, http.StatusUnauthorized, a.code, "%s to the upload pod: %s", tt.name, a)
	}
	// Control: the pod's own credential (from its Secret, which only the
	// uploader and the proxy read) passes authentication: the refusal is
	// then the bogus content type's.
	secret, err := e2e.client.CoreV1().Secrets(victims).Get(ctx, datapod.UploadSecretName(string(victim.UID)), metav1.GetOptions{})
	require.NoError(t, err)
	a := send(t, http.MethodPost, direct, string(secret.Data[datapod.CredentialKey]), bytes.NewReader([]byte("x")), 1,
		"X-Cdi-Content-Type", "bogus")
	assert.Equal(t, http.StatusBadRequest, a.code, "control: the pod's own credential: %s", a)

	c := getClaim(t, victims, "victim")
	assert.False(t, annotations.Final(c.Annotations[annotations.PodPhase]), "no forgery finished the upload: %v", c.Annotations)
	p, err := e2e.client.CoreV1().Pods(victims).Get(ctx, victimPod.Name, metav1.GetOptions{})
	require.NoError(t, err, "the victim's upload pod was not deleted")
	assert.Equal(t, victimPod.UID, p.UID)

	a = postFile(t, proxy+"/v1beta1/upload", userToken, im.path("disk.qcow2"))
	require.Equal(t, http.StatusOK, a.code, "%s", a)
	requireUploaded(t, victims, "victim", im.file(t, "disk.qcow2.raw"))
	p, err = e2e.client.CoreV1().Pods(victims).Get(ctx, victimPod.Name, metav1.GetOptions{})
	if err == nil {
		assert.Equal(t, victimPod.UID, p.UID, "the first upload pod did the upload")
	}
	assert.Empty(t, eventsWithMessage(t, victims, "forged"), "no forged message reached the claims")
}

// buildCdictl starts building cmd/cdictl into a temporary directory and
// returns a func that waits for the build and returns the program's path.
func buildCdictl(t *testing.T) func(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cdictl")
	start := time.Now()
	type result struct {
		out  []byte
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/cdictl")
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		done <- result{out, err, timeSince(start)}
	}()
	return func(t *testing.T) string {
		t.Helper()
		r := <-done
		done <- r
		require.NoError(t, r.err, "go build ./cmd/cdictl:\n%s", r.out)
		t.Logf("built cdictl in %s", r.took)
		return bin
	}
}

// sentLine is cdictl's summary of a resumed upload.
var sentLine = regexp.MustCompile(`resumed (\d+) times; (\d+) bytes sent for (\d+)`)

// testCdictlResumes runs cdictl upload (creating the claim) through a
// loopback TCP proxy that passes about 4 MiB/s and cuts the connection
// twice midway, and kills the upload proxy's pods once while the upload
// runs. cdictl resumes each time by itself; the claim ends Succeeded,
// byte-exact, and fewer bytes were sent than twice the image.
func testCdictlResumes(t *testing.T, im *uploadImages, cdictl string) {
	ctx := context.Background()
	ns := uploadNamespace(t)
	dir := t.TempDir()
	kubeconfig := kubeconfigFor(t, dir, ns)
	size := int64(len(im.raw))
	cut := newCutter(t, nodeIP(t)+":"+strconv.Itoa(uploadProxyNodePort), 4<<20)

	ctx, cancel := context.WithTimeout(ctx, 2*uploadTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cdictl, "upload", "--kubeconfig", kubeconfig, "--namespace", ns, "--pvc", "disk",
		"--image", im.path("disk.raw"), "--insecure", "--uploadproxy-url", "https://"+cut.addr())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	cut.waitSent(t, size/5)
	cut.cut()
	cut.waitSent(t, 2*size/5)
	cut.cut()
	cut.waitSent(t, 3*size/5)
	killUploadProxy(t)

	err := <-done
	t.Logf("cdictl took %s; the cutter passed %d bytes for %d", timeSince(start), cut.sent.Load(), size)
	require.NoError(t, err, "cdictl upload:\nstdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	assert.Contains(t, out.String(), "created claim "+ns+"/disk")
	assert.Contains(t, out.String(), ns+"/disk: Succeeded")
	m := sentLine.FindStringSubmatch(errOut.String())
	require.NotNil(t, m, "cdictl reports what it resent:\n%s", errOut.String())
	t.Logf("cdictl: %s", m[0])
	resumed, _ := strconv.Atoi(m[1])
	sent, _ := strconv.ParseInt(m[2], 10, 64)
	assert.GreaterOrEqual(t, resumed, 3, "resumed after two cuts and a killed proxy")
	assert.Equal(t, strconv.FormatInt(size, 10), m[3])
	assert.Less(t, sent, 2*size, "bytes sent in total")
	assert.Less(t, cut.sent.Load(), 2*size, "bytes through the network in total")
	requireUploaded(t, ns, "disk", im.raw)
}

// killUploadProxy deletes every pod of the upload proxy at once (no grace
// period), then waits for its Deployment to be available again.
func killUploadProxy(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	d, err := e2e.client.AppsV1().Deployments("cdi").Get(ctx, "cdi-uploadproxy", metav1.GetOptions{})
	require.NoError(t, err)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	require.NoError(t, err)
	pods := e2e.client.CoreV1().Pods("cdi")
	l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	require.NoError(t, err)
	require.NotEmpty(t, l.Items, "upload proxy pods")
	for _, p := range l.Items {
		require.NoError(t, pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptrTo[int64](0)}))
	}
	waitRollout(t, d)
}

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// testImports deploys cdi-functions with `ko apply -f config/` (make
// deploy) and runs the import scenarios side by side, every one in a
// namespace that enforces the restricted Pod Security level; then the
// scenarios that change the deployment's settings, one after another.
func testImports(t *testing.T) {
	deploy(t)
	im := makeImages(t)
	t.Run("restricted", func(t *testing.T) { importScenarios(t, im) })
	t.Run("PrivilegedSetting", func(t *testing.T) { testPrivilegedSetting(t, im) })
}

// importScenarios are the import scenarios; they run in parallel.
func importScenarios(t *testing.T, im *images) {

	t.Run("SeedYAMLVerbatimButURL", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		srv := serve(t, sourcetest.Config{Data: im.file(t, "disk.qcow2.xz")})
		createClaim(t, ns, seedClaim(t, srv.URL+"/cirros-0.4.0-x86_64-disk.qcow2.xz"))
		requireSucceeded(t, waitFinal(t, ns, "golden-pvc"), im.raw)
	})
	t.Run("BasicAuthSecret", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		srv := serve(t, sourcetest.Config{Data: im.file(t, "disk.qcow2"), User: "cdi", Password: "s3cret"})
		createSecret(t, ns, "endpoint-secret", "cdi", "s3cret")
		createClaim(t, ns, importClaim("auth", "64Mi", srv.URL+"/disk.qcow2", withAnnotation(annotations.SecretName, "endpoint-secret")))
		requireSucceeded(t, waitFinal(t, ns, "auth"), im.raw)
	})
	t.Run("HTTPSWithCustomCA", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		srv := serve(t, sourcetest.Config{Data: im.file(t, "disk.qcow2.xz"), TLS: true})
		createCertConfigMap(t, ns, "ca", filepath.Join(srv.CertDir, "ca.crt"))
		createClaim(t, ns, importClaim("tls", "64Mi", srv.URL+"/disk.qcow2.xz", withAnnotation(annotations.CertConfigMap, "ca")))
		requireSucceeded(t, waitFinal(t, ns, "tls"), im.raw)
	})
	t.Run("S3", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		gw := sourcetest.StartS3At(t, gateway)
		gw.Put(t, "images", "golden/disk.qcow2", im.file(t, "disk.qcow2"))
		createSecret(t, ns, "s3", sourcetest.S3AccessKey, sourcetest.S3SecretKey)
		createClaim(t, ns, importClaim("s3", "64Mi", "s3://images/golden/disk.qcow2",
			withAnnotation(annotations.SecretName, "s3"), withAnnotation(annotations.S3Endpoint, gw.Endpoint)))
		requireSucceeded(t, waitFinal(t, ns, "s3"), im.raw)
	})
	t.Run("ArchiveContentType", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		srv := serve(t, sourcetest.Config{Data: im.file(t, "tree.tar.gz")})
		createClaim(t, ns, importClaim("archive", "64Mi", srv.URL+"/tree.tar.gz",
			withAnnotation(annotations.ContentType, annotations.ContentTypeArchive)))
		c := waitFinal(t, ns, "archive")
		require.Equal(t, annotations.PhaseSucceeded, c.Annotations[annotations.PodPhase], "%v", c.Annotations)
		dir := volumeDir(t, c)
		assert.Equal(t, "hello\n", string(readFile(t, filepath.Join(dir, "sub/a.txt"))))
		assert.Equal(t, im.raw[:100000], readFile(t, filepath.Join(dir, "b.bin")))
	})
	t.Run("NotFoundEndsFailed", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		createClaim(t, ns, importClaim("missing", "64Mi", serve404(t)+"/no-such-image.qcow2"))
		requireFailedWithEvent(t, waitFinal(t, ns, "missing"), "not found")
	})
	t.Run("BadSchemeEndsFailed", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		createClaim(t, ns, importClaim("ftp", "64Mi", "ftp://images.example/disk.img"))
		requireFailedWithEvent(t, waitFinal(t, ns, "ftp"), `scheme "ftp" is not supported`)
		pods, err := e2e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		assert.Empty(t, pods.Items, "no data pod for an invalid request")
	})
	t.Run("ImageLargerThanClaimEndsFailed", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		srv := serve(t, sourcetest.Config{Data: im.file(t, "big.qcow2")})
		createClaim(t, ns, importClaim("small", "64Mi", srv.URL+"/big.qcow2"))
		requireFailedWithEvent(t, waitFinal(t, ns, "small"), "larger than the target")
	})
	t.Run("DataPodKilledMidImportResumes", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		url := slowServer(t, im.raw, 4<<20) // ~6 s for 24 MiB
		createClaim(t, ns, importClaim("killed", "64Mi", url))
		uids := watchDataPods(t, ns)
		pod := waitDataPodRunning(t, ns, "killed")
		waitProgress(t, ns, "killed")
		require.NoError(t, e2e.client.CoreV1().Pods(ns).Delete(context.Background(), pod.Name,
			metav1.DeleteOptions{GracePeriodSeconds: ptrTo[int64](0)}))
		requireSucceeded(t, waitFinal(t, ns, "killed"), im.raw)
		assert.GreaterOrEqual(t, len(uids()), 2, "a new data pod replaced the killed one")
	})
	t.Run("EventSourceRestartedMidImport", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		url := slowServer(t, im.raw, 4<<20)
		createClaim(t, ns, importClaim("restart", "64Mi", url))
		uids := watchDataPods(t, ns)
		waitDataPodRunning(t, ns, "restart")
		restartEventSource(t)
		requireSucceeded(t, waitFinal(t, ns, "restart"), im.raw)
		assert.Len(t, uids(), 1, "no duplicate data pod")
	})
	t.Run("BlockVolume", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		srv := serve(t, sourcetest.Config{Data: im.file(t, "disk.qcow2.xz")})
		createClaim(t, ns, importClaim("block", "64Mi", srv.URL+"/disk.qcow2.xz", asBlock()))
		requireBlockSucceeded(t, waitFinal(t, ns, "block"), im.raw)
	})
	t.Run("NamespaceWithCPULimitRange", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		limitCPU(t, ns, "1")
		srv := serve(t, sourcetest.Config{Data: im.file(t, "disk.qcow2")})
		createClaim(t, ns, importClaim("limited", "64Mi", srv.URL+"/disk.qcow2"))
		requireSucceeded(t, waitFinal(t, ns, "limited"), im.raw)
	})
	t.Run("ForgedEventsAreRefused", func(t *testing.T) { testForgedEvents(t, im) })
	t.Run("SecretCreatedAfterTheClaim", func(t *testing.T) { testSecretCreatedLater(t, im) })
	t.Run("QuotaOfOnePod", func(t *testing.T) { testQuotaOfOnePod(t, im) })
	t.Run("ClaimDeletedMidImport", func(t *testing.T) { testClaimDeletedMidImport(t, im) })
	t.Run("ClaimDeletedWhileCrashLooping", testClaimDeletedWhileCrashLooping)
	t.Run("InvalidRequestsFailBeforeAnyPod", testInvalidRequests)
	t.Run("TwentyClaimsAtOnce", func(t *testing.T) {
		t.Parallel()
		ns := restrictedNamespace(t)
		srv := serve(t, sourcetest.Config{Data: im.file(t, "disk.qcow2.xz")})
		for i := range 20 {
			createClaim(t, ns, importClaim(fmt.Sprintf("c%02d", i), "64Mi", srv.URL+"/disk.qcow2.xz"))
		}
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				requireSucceeded(t, waitFinal(t, ns, fmt.Sprintf("c%02d", i)), im.raw)
			}()
		}
		wg.Wait()
	})
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// serve404 starts a server on the gateway that answers every request 404.
func serve404(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", gateway+":0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

// createSecret makes a credentials Secret as the 2018 post's
// endpoint-secret.yaml does.
func createSecret(t *testing.T, ns, name, key, secret string) {
	t.Helper()
	_, err := e2e.client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		StringData: map[string]string{"accessKeyId": key, "secretKey": secret},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// createCertConfigMap makes a ConfigMap holding the CA certificate file.
func createCertConfigMap(t *testing.T, ns, name, caFile string) {
	t.Helper()
	_, err := e2e.client.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Data:       map[string]string{"ca.crt": string(readFile(t, caFile))},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// watchDataPods records the UIDs of every data pod created in ns from now
// on; the returned func lists them.
func watchDataPods(t *testing.T, ns string) func() []string {
	t.Helper()
	w, err := e2e.client.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{
		LabelSelector: datapod.LabelKind + "=" + datapod.KindImport,
	})
	require.NoError(t, err)
	var mu sync.Mutex
	seen := map[string]bool{}
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
				mu.Lock()
				seen[string(p.UID)] = true
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(w.Stop)
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for uid := range seen {
			out = append(out, uid)
		}
		return out
	}
}

// waitDataPodRunning waits for the claim's data pod to run.
func waitDataPodRunning(t *testing.T, ns, claim string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, podTimeout, "data pod of "+claim+" running", func(ctx context.Context) (bool, error) {
		p, err := e2e.client.CoreV1().Pods(ns).Get(ctx, datapod.ImportPodName(claim), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		pod = p
		return p.Status.Phase == corev1.PodRunning, nil
	})
	return pod
}

// restartEventSource kills the event source's pod and waits for its
// replacement to be ready.
func restartEventSource(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	pods := e2e.client.CoreV1().Pods("cdi")
	l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=eventsource"})
	require.NoError(t, err)
	require.NotEmpty(t, l.Items, "event source pods")
	for _, p := range l.Items {
		require.NoError(t, pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptrTo[int64](0)}))
	}
	eventually(t, podTimeout, "a new event source ready", func(ctx context.Context) (bool, error) {
		l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=eventsource"})
		if err != nil {
			return false, err
		}
		for _, p := range l.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
		}
		return false, nil
	})
}

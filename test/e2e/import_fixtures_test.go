//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
)

// gateway is the cluster bridge's address on this host: servers the tests
// start there are reachable from pods (hack/cluster/lib.sh GATEWAY).
const gateway = "10.244.0.1"

// importTimeout bounds one import, from claim creation to a final phase.
const importTimeout = 3 * time.Minute

// images are the test images, made once with the real tools.
type images struct {
	dir string
	raw []byte // the disk every image holds
}

// makeImages writes a 24 MiB disk with scattered random data and its
// qcow2.xz, qcow2, a too large qcow2 and an archive.
func makeImages(t *testing.T) *images {
	t.Helper()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 7))
	raw := make([]byte, 24<<20)
	for i := 0; i < len(raw)/(1<<20); i += 3 {
		for j := i << 20; j < (i+1)<<20; j++ {
			raw[j] = byte(r.Uint32())
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "disk.raw"), raw, 0o644))
	tooltest.Sh(t, dir, `
qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2
xz -T2 -k disk.qcow2
qemu-img create -q -f qcow2 big.qcow2 256M
mkdir -p tree/sub && echo hello > tree/sub/a.txt && head -c 100000 disk.raw > tree/b.bin && tar -C tree -czf tree.tar.gz .
`)
	return &images{dir: dir, raw: raw}
}

func (im *images) file(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(im.dir, name))
	require.NoError(t, err)
	return b
}

// deploy runs make deploy: ko apply -f config/ to the local cluster, and a
// wait until every component is ready.
func deploy(t *testing.T) {
	t.Helper()
	out, err := exec.Command("bash", "../../hack/deploy.sh").CombinedOutput()
	require.NoError(t, err, "make deploy:\n%s", out)
	// rollout status returns while replaced pods still drain (and answer,
	// with their old code and settings): wait until they are gone.
	for _, name := range []string{"cdi-eventsource", "cdi-importer", "cdi-updater"} {
		d, err := e2e.client.AppsV1().Deployments("cdi").Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err)
		waitRollout(t, d)
	}
}

// serve starts a server for data on the gateway, reachable from pods.
func serve(t *testing.T, cfg sourcetest.Config) *sourcetest.Server {
	t.Helper()
	cfg.Addr = gateway + ":0"
	return sourcetest.NewServer(t, cfg)
}

// slowServer serves data on the gateway at about rate bytes per second,
// with range support, so a test can act while an import runs.
func slowServer(t *testing.T, data []byte, rate int) string {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(&throttled{ResponseWriter: w, rate: rate}, r, "disk.raw", time.Unix(1700000000, 0), bytes.NewReader(data))
	}), ReadHeaderTimeout: 10 * time.Second}
	l, err := net.Listen("tcp", gateway+":0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String() + "/disk.raw"
}

// throttled writes at most rate bytes per second.
type throttled struct {
	http.ResponseWriter
	rate int
}

func (w *throttled) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	time.Sleep(time.Duration(n) * time.Second / time.Duration(w.rate))
	return n, err
}

// claimOpt changes a claim under construction.
type claimOpt func(*corev1.PersistentVolumeClaim)

// importClaim is a claim of size asking to import endpoint.
func importClaim(name, size, endpoint string, opts ...claimOpt) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annotations.Endpoint: endpoint}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			},
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func withAnnotation(k, v string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Annotations[k] = v }
}

// seedClaim is the 2018 post's golden-pvc.yaml, verbatim but the URL.
func seedClaim(t *testing.T, url string) *corev1.PersistentVolumeClaim {
	t.Helper()
	b, err := os.ReadFile("testdata/golden-pvc.yaml")
	require.NoError(t, err)
	y := strings.ReplaceAll(string(b), "https://download.cirros-cloud.net/0.4.0/cirros-0.4.0-x86_64-disk.img", url)
	var c corev1.PersistentVolumeClaim
	require.NoError(t, yaml.UnmarshalStrict([]byte(y), &c))
	return &c
}

// createClaim creates c in ns.
func createClaim(t *testing.T, ns string, c *corev1.PersistentVolumeClaim) {
	t.Helper()
	_, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), c, metav1.CreateOptions{})
	require.NoError(t, err, "create claim %s", c.Name)
}

// waitFinal waits for the claim's phase annotation to be Succeeded or
// Failed and returns the claim.
func waitFinal(t *testing.T, ns, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	var c *corev1.PersistentVolumeClaim
	eventually(t, importTimeout, "claim "+ns+"/"+name+" to finish", func(ctx context.Context) (bool, error) {
		var err error
		c, err = e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return annotations.Final(c.Annotations[annotations.PodPhase]), nil
	})
	return c
}

// requireSucceeded checks the claim succeeded and its disk.img starts with
// want and is zeros after it (it is grown to the claim's size).
func requireSucceeded(t *testing.T, c *corev1.PersistentVolumeClaim, want []byte) {
	t.Helper()
	require.Equal(t, annotations.PhaseSucceeded, c.Annotations[annotations.PodPhase], "claim annotations: %v", c.Annotations)
	require.Equal(t, "100.00%", c.Annotations[annotations.Progress])
	f, err := os.Open(filepath.Join(volumeDir(t, c), "disk.img"))
	require.NoError(t, err)
	defer f.Close()
	got := make([]byte, len(want))
	_, err = io.ReadFull(f, got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "disk.img differs from qemu-img convert of the source")
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		require.True(t, allZero(buf[:n]), "disk.img is zeros after the image")
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// volumeDir is the host directory of the claim's local volume.
func volumeDir(t *testing.T, c *corev1.PersistentVolumeClaim) string {
	t.Helper()
	pv, err := e2e.client.CoreV1().PersistentVolumes().Get(context.Background(), c.Spec.VolumeName, metav1.GetOptions{})
	require.NoError(t, err, "volume of claim %s", c.Name)
	require.NotNil(t, pv.Spec.Local, "the local cluster provisions local PersistentVolumes")
	return pv.Spec.Local.Path
}

// requireFailedWithEvent checks the claim failed with a message containing
// want, shown both as annotation and as a Warning Event on the claim.
func requireFailedWithEvent(t *testing.T, c *corev1.PersistentVolumeClaim, want string) {
	t.Helper()
	require.Equal(t, annotations.PhaseFailed, c.Annotations[annotations.PodPhase], "claim annotations: %v", c.Annotations)
	require.Contains(t, c.Annotations[annotations.Message], want)
	eventually(t, 30*time.Second, "ErrImportFailed event on "+c.Name, func(ctx context.Context) (bool, error) {
		evs, err := e2e.client.CoreV1().Events(c.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + c.Name})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == "ErrImportFailed" && e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, want) {
				return true, nil
			}
		}
		return false, nil
	})
}

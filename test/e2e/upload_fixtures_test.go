//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
)

// uploadProxyNodePort is the upload proxy's NodePort on the local cluster
// (config/530-uploadproxy.yaml), the port of the 2018 post's curl.
const uploadProxyNodePort = 31001

// uploadTimeout bounds one upload, from the claim's creation to a final
// phase.
const uploadTimeout = 3 * time.Minute

// uploadImages are the upload test images, made once with the real tools.
type uploadImages struct {
	dir string
	raw []byte // the disk disk.qcow2 and disk.raw.xz hold
}

// makeUploadImages writes a 32 MiB disk with scattered random data and
// its qcow2 (and the raw conversion of that qcow2 by qemu-img, what a
// qcow2 upload must leave in disk.img), its raw.xz, an ISO 9660 image, a
// tar of a small tree, a qcow2 of 256 MiB virtual size (larger than the
// tests' 64 MiB claims) and a 96 MiB raw file (sparse here, larger than a
// 64 MiB claim with its allowance for qcow2 overhead).
func makeUploadImages(t *testing.T) *uploadImages {
	t.Helper()
	tooltest.Need(t, "qemu-img", "xz", "genisoimage", "tar")
	start := time.Now()
	defer func() { t.Logf("made the upload images in %s", timeSince(start)) }()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(8, 8))
	raw := make([]byte, 32<<20)
	for i := 0; i < len(raw)/(1<<20); i += 3 {
		for j := i << 20; j < (i+1)<<20; j++ {
			raw[j] = byte(r.Uint32())
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "disk.raw"), raw, 0o644))
	tooltest.Sh(t, dir, `
qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2
qemu-img convert -f qcow2 -O raw disk.qcow2 disk.qcow2.raw
xz -T2 -1 -k disk.raw
mkdir -p iso-root/boot && head -c 3000000 disk.raw > iso-root/boot/kernel && echo cdi > iso-root/README
genisoimage -quiet -V CDI -R -J -o disk.iso iso-root
mkdir -p tree/sub && echo hello > tree/sub/a.txt && head -c 100000 disk.raw > tree/b.bin && tar -C tree -cf tree.tar .
qemu-img create -q -f qcow2 big.qcow2 256M
truncate -s 96M huge.raw
`)
	return &uploadImages{dir: dir, raw: raw}
}

// path is the file name of the image name.
func (im *uploadImages) path(name string) string { return filepath.Join(im.dir, name) }

// file returns the bytes of the image name.
func (im *uploadImages) file(t *testing.T, name string) []byte {
	t.Helper()
	return readFile(t, im.path(name))
}

// uploadTarget is a claim of size annotated as an upload target, as the
// 2018 post's upload-pvc.yaml.
func uploadTarget(name, size string, opts ...claimOpt) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annotations.UploadTarget: ""}},
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

// uploadNamespace is a test namespace enforcing the restricted Pod
// Security level whose claims, pods and Events are logged if the test
// fails.
func uploadNamespace(t *testing.T) string {
	t.Helper()
	ns := restrictedNamespace(t)
	logOnFailure(t, ns)
	return ns
}

// logOnFailure logs the claims, pods and Events of ns at the end of the
// test if it failed (before the namespace is deleted).
func logOnFailure(t *testing.T, ns string) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			logNamespace(t, ns)
		}
	})
}

// logNamespace logs the claims (with their annotations), pods and Events
// of ns, for a failure's diagnosis.
func logNamespace(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	if l, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, c := range l.Items {
			fmt.Fprintf(&b, "claim %s uid=%s phase=%s annotations=%v\n", c.Name, c.UID, c.Status.Phase, c.Annotations)
		}
	}
	if l, err := e2e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range l.Items {
			p := &l.Items[i]
			fmt.Fprintf(&b, "pod %s uid=%s deleting=%v %s", p.Name, p.UID, p.DeletionTimestamp != nil, describe(p))
			for _, c := range p.Status.Conditions {
				fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
			}
			for _, c := range p.Status.ContainerStatuses {
				fmt.Fprintf(&b, " %s: ready=%v restarts=%d", c.Name, c.Ready, c.RestartCount)
			}
			b.WriteString("\n")
		}
	}
	if l, err := e2e.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, e := range l.Items {
			fmt.Fprintf(&b, "event %s %s/%s %s: %s\n", e.LastTimestamp.Format(time.RFC3339), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	t.Logf("namespace %s:\n%s", ns, b.String())
}

// getClaim reads the claim ns/name.
func getClaim(t *testing.T, ns, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	c, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err, "get claim %s/%s", ns, name)
	return c
}

// waitUploadReady waits until the claim's upload pod listens: the claim's
// cdi.kubevirt.io/storage.pod.ready is "true" (what cdictl waits for), and
// returns the upload pod.
func waitUploadReady(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	eventually(t, uploadTimeout, "claim "+ns+"/"+name+" "+annotations.PodReady+"=true", func(ctx context.Context) (bool, error) {
		c, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return c.Annotations[annotations.PodReady] == "true", nil
	})
	p, err := e2e.client.CoreV1().Pods(ns).Get(context.Background(), datapod.UploadPodName(name), metav1.GetOptions{})
	require.NoError(t, err, "the upload pod of %s/%s", ns, name)
	return p
}

// waitUploadFinal waits for the claim's phase annotation to be Succeeded
// or Failed and returns the claim.
func waitUploadFinal(t *testing.T, ns, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	var c *corev1.PersistentVolumeClaim
	eventually(t, uploadTimeout, "claim "+ns+"/"+name+" to finish", func(ctx context.Context) (bool, error) {
		var err error
		c, err = e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return annotations.Final(c.Annotations[annotations.PodPhase]), nil
	})
	return c
}

// requireUploaded checks the claim ns/name ends Succeeded with an
// UploadSucceeded Event, and its disk.img is want followed by zeros.
func requireUploaded(t *testing.T, ns, name string, want []byte) {
	t.Helper()
	c := waitUploadFinal(t, ns, name)
	requireDiskImage(t, c, want)
	waitEvent(t, ns, name, "UploadSucceeded", "")
}

// requireDiskImage checks the claim succeeded and its disk.img starts with
// want and is zeros after it.
func requireDiskImage(t *testing.T, c *corev1.PersistentVolumeClaim, want []byte) {
	t.Helper()
	require.Equal(t, annotations.PhaseSucceeded, c.Annotations[annotations.PodPhase], "claim annotations: %v", c.Annotations)
	f, err := os.Open(filepath.Join(volumeDir(t, c), "disk.img"))
	require.NoError(t, err)
	defer f.Close()
	got := make([]byte, len(want))
	_, err = io.ReadFull(f, got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "disk.img of %s/%s differs from the image", c.Namespace, c.Name)
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		require.True(t, allZero(buf[:n]), "disk.img is zeros after the image")
		if err == io.EOF {
			return
		}
		require.NoError(t, err)
	}
}

// waitUploadComponents waits until the upload's components run: the
// uploader, the upload proxy and tokenapi Deployments are rolled out and
// both UploadTokenRequest APIServices are Available.
func waitUploadComponents(t *testing.T) {
	t.Helper()
	for _, name := range []string{"cdi-uploader", "cdi-uploadproxy", "cdi-tokenapi"} {
		d, err := e2e.client.AppsV1().Deployments("cdi").Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err, "Deployment cdi/%s (make deploy)", name)
		waitRollout(t, d)
	}
	waitAPIServicesAvailable(t)
}

// nodeIP is the InternalIP of the cluster's node.
func nodeIP(t *testing.T) string {
	t.Helper()
	nodes, err := e2e.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, n := range nodes.Items {
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				return a.Address
			}
		}
	}
	t.Fatal("no node has an InternalIP")
	return ""
}

// uploadProxyURL is the upload proxy's URL as the 2018 post reaches it:
// its Service's NodePort on the node's InternalIP.
func uploadProxyURL(t *testing.T) string {
	t.Helper()
	svc, err := e2e.client.CoreV1().Services("cdi").Get(context.Background(), "cdi-uploadproxy", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.ServiceTypeNodePort, svc.Spec.Type, "Service cdi/cdi-uploadproxy")
	require.NotEmpty(t, svc.Spec.Ports)
	require.EqualValues(t, uploadProxyNodePort, svc.Spec.Ports[0].NodePort, "Service cdi/cdi-uploadproxy's NodePort")
	return "https://" + net.JoinHostPort(nodeIP(t), strconv.Itoa(uploadProxyNodePort))
}

// requestToken asks the UploadTokenRequest API (version v1alpha1 or
// v1beta1) for a token for the claim ns/name, as the cluster admin.
func requestToken(t *testing.T, version, ns, name string) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"apiVersion": "upload.cdi.kubevirt.io/" + version, "kind": "UploadTokenRequest",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"pvcName": name},
	})
	require.NoError(t, err)
	raw, err := e2e.client.Discovery().RESTClient().Post().
		AbsPath("/apis/upload.cdi.kubevirt.io/"+version+"/namespaces/"+ns+"/uploadtokenrequests").
		SetHeader("Content-Type", "application/json").Body(body).DoRaw(context.Background())
	require.NoError(t, err, "UploadTokenRequest %s for %s/%s: %s", version, ns, name, raw)
	var res struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	require.NoError(t, json.Unmarshal(raw, &res), "%s", raw)
	require.NotEmpty(t, res.Status.Token, "status.token: %s", raw)
	return res.Status.Token
}

// insecureClient is an HTTP client that does not verify the server's
// certificate, as the 2018 post's curl --insecure (the local proxy's
// certificate is its own).
func insecureClient() *http.Client {
	return &http.Client{Timeout: uploadTimeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as curl --insecure
	}}
}

// answer is an HTTP answer: its status and plain-text message.
type answer struct {
	code int
	msg  string
	hdr  http.Header
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.code, strings.TrimSpace(a.msg)) }

// send makes one request with the bearer token (none when empty) and
// the headers (key, value pairs) and returns the answer.
func send(t *testing.T, method, url, token string, body io.Reader, length int64, kv ...string) answer {
	t.Helper()
	a, err := do(method, url, token, body, length, kv...)
	require.NoError(t, err)
	return a
}

// do is send for goroutines other than the test's: it returns the error.
func do(method, url, token string, body io.Reader, length int64, kv ...string) (answer, error) {
	if body == nil {
		body = http.NoBody
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return answer{}, err
	}
	req.ContentLength = length
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	res, err := insecureClient().Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer res.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return answer{code: res.StatusCode, msg: string(msg), hdr: res.Header}, err
}

// postFile POSTs the file at path as the request body to url with the
// token and headers.
func postFile(t *testing.T, url, token, path string, kv ...string) answer {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	return send(t, http.MethodPost, url, token, f, st.Size(), kv...)
}

// postForm POSTs the file at path as the field "file" of a streamed
// multipart/form-data body to url with the token.
func postForm(t *testing.T, url, token, path string) answer {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", filepath.Base(path))
		if err == nil {
			_, err = io.Copy(part, f)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	return send(t, http.MethodPost, url, token, pr, -1, "Content-Type", mw.FormDataContentType())
}

// gatedBody is a request body that yields the first open bytes of data,
// then blocks until release is called, then yields the rest: an upload a
// test holds open in the middle. read counts the bytes taken.
type gatedBody struct {
	data    []byte
	open    int
	off     int
	read    atomic.Int64
	gate    chan struct{}
	release func()
}

// newGatedBody returns a gatedBody over data that stops after open bytes.
func newGatedBody(data []byte, open int) *gatedBody {
	g := &gatedBody{data: data, open: open, gate: make(chan struct{})}
	var once sync.Once
	g.release = func() { once.Do(func() { close(g.gate) }) }
	return g
}

func (g *gatedBody) Read(p []byte) (int, error) {
	if g.off == g.open {
		<-g.gate
	}
	if g.off >= len(g.data) {
		return 0, io.EOF
	}
	end := len(g.data)
	if g.off < g.open {
		end = g.open
	}
	n := copy(p, g.data[g.off:end])
	g.off += n
	g.read.Add(int64(n))
	return n, nil
}

// cutter is a loopback TCP proxy in front of target that passes what the
// client sends at about rate bytes per second, counts those bytes and can
// cut every open connection: a network that breaks under an upload, made
// without touching the client.
type cutter struct {
	l      net.Listener
	target string
	rate   int
	sent   atomic.Int64
	cuts   atomic.Int32
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

// newCutter starts a cutter on 127.0.0.1 in front of target (host:port).
func newCutter(t *testing.T, target string, rate int) *cutter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &cutter{l: l, target: target, rate: rate, conns: map[net.Conn]struct{}{}}
	go c.serve()
	t.Cleanup(func() { _ = l.Close(); c.cut() })
	return c
}

// addr is where clients connect.
func (c *cutter) addr() string { return c.l.Addr().String() }

func (c *cutter) serve() {
	for {
		in, err := c.l.Accept()
		if err != nil {
			return
		}
		go c.relay(in)
	}
}

// relay copies one connection both ways, the client's side throttled and
// counted.
func (c *cutter) relay(in net.Conn) {
	out, err := net.DialTimeout("tcp", c.target, 10*time.Second)
	if err != nil {
		_ = in.Close()
		return
	}
	c.track(in, out)
	defer func() { _ = in.Close(); _ = out.Close() }()
	go func() { _, _ = io.Copy(in, out); _ = in.Close(); _ = out.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return
			}
			c.sent.Add(int64(n))
			time.Sleep(time.Duration(n) * time.Second / time.Duration(c.rate)) // the throttle, not synchronisation
		}
		if err != nil {
			return
		}
	}
}

func (c *cutter) track(conns ...net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range conns {
		c.conns[n] = struct{}{}
	}
}

// cut closes every connection open now; clients may connect again.
func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := range c.conns {
		_ = n.Close()
	}
	c.conns = map[net.Conn]struct{}{}
	c.cuts.Add(1)
}

// waitSent waits until the clients sent at least n bytes through c.
func (c *cutter) waitSent(t *testing.T, n int64) {
	t.Helper()
	eventually(t, uploadTimeout, fmt.Sprintf("%d bytes through the cutter", n), func(context.Context) (bool, error) {
		return c.sent.Load() >= n, nil
	})
}

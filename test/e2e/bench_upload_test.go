//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
)

// The upload benchmark (make bench-upload, docs/performance.md "Upload"):
// a raw and a qcow2 image of CDI_BENCH_SIZE (default 2 GiB, 30% data)
// through the upload proxy's NodePort, against the same bytes POSTed to a
// plain file server pod (test/e2e/cmd/uploadsink) through a NodePort of
// its own; the peak RSS of the proxy and of the upload pod; and cdictl's
// resumable upload, clean and with one connection cut at 50%.

// benchProxyPort is the upload proxy's NodePort (config/530-uploadproxy.yaml).
const benchProxyPort = 31001

// benchUploadTimeout bounds one measured upload, to the claim's final phase.
const benchUploadTimeout = 10 * time.Minute

// benchMiB is a mebibyte in bytes.
const benchMiB = 1 << 20

// TestBenchUpload (make bench-upload) measures uploads on the running
// cluster and prints one report: times and throughput of each upload and
// of the reference, the ratios with their targets (raw ≤ 1.3× the
// reference), the peak RSS of the upload proxy and of the upload pods
// (< 200 MiB), and the time one dropped connection costs cdictl (< 10% of
// a clean upload).
func TestBenchUpload(t *testing.T) {
	if os.Getenv("CDI_BENCH_UPLOAD") == "" {
		t.Skip("benchmark: run with make bench-upload")
	}
	tooltest.Need(t, "qemu-img", "dd")
	began := time.Now()
	loadBefore := benchLoadavg()
	size := benchUploadSize(t)
	runs := 1
	if v := os.Getenv("CDI_BENCH_RUNS"); v != "" {
		var err error
		runs, err = strconv.Atoi(v)
		require.NoError(t, err, "CDI_BENCH_RUNS")
		require.Positive(t, runs, "CDI_BENCH_RUNS")
	}
	for _, name := range []string{"cdi-uploader", "cdi-uploadproxy", "cdi-tokenapi", "cdi-updater", "cdi-eventsource"} {
		d, err := e2e.client.AppsV1().Deployments("cdi").Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err, "Deployment cdi/%s (make deploy)", name)
		waitRollout(t, d)
	}
	waitAPIServicesAvailable(t)
	// The suite's network sampler reads every process's /proc/PID/fd and
	// socket tables every 100 ms: about 85% of a CPU here, on a machine of
	// two. The bench checks no egress; it stops the sampler so that it does
	// not measure it.
	require.NoError(t, e2e.stopWatcher(), "stop the suite's network sampler")

	dir := benchUploadImages(t, size)
	raw, qcow2 := filepath.Join(dir, "disk.raw"), filepath.Join(dir, "disk.qcow2")
	sinkImage, err := koBuild("./test/e2e/cmd/uploadsink")
	require.NoError(t, err)
	cdictl := benchBuildCdictl(t)
	ns := newNamespace(t)
	claimSize := benchClaimSize(size)
	sink := benchStartSink(t, ns, sinkImage, claimSize)
	proxy := "https://" + net.JoinHostPort(gateway, strconv.Itoa(benchProxyPort))
	fmt.Printf("bench-upload: images in %s, sink %s, proxy %s, %d run(s)\n", dir, sink, proxy, runs)

	var mu sync.Mutex
	results := map[string][]benchResult{}
	add := func(name string, r benchResult) {
		mu.Lock()
		defer mu.Unlock()
		results[name] = append(results[name], r)
		fmt.Printf("bench-upload: %-26s %s\n", name, r)
	}
	measureStart := time.Now()
	for run := range runs {
		// The order alternates references and uploads, so a change of
		// the machine's load hits both.
		add("ref raw sparse", benchPostSink(t, sink+"/sparse", raw))
		add("proxy raw", benchProxyUpload(t, ns, fmt.Sprintf("bench-raw-%d", run), claimSize, proxy+"/v1beta1/upload", raw, raw))
		add("ref raw plain", benchPostSink(t, sink+"/plain", raw))
		add("ref qcow2", benchPostSink(t, sink+"/sparse", qcow2))
		add("proxy qcow2", benchProxyUpload(t, ns, fmt.Sprintf("bench-qcow2-%d", run), claimSize, proxy+"/v1beta1/upload", qcow2, raw))
		// Clean, cut, cut, clean: a load that drifts during the four
		// weighs on both alike.
		for i, cut := range []bool{false, true, true, false} {
			name := "cdictl clean"
			if cut {
				name = "cdictl cut at 50%"
			}
			add(name, benchCdictl(t, cdictl, ns, fmt.Sprintf("bench-tus-%d-%d", run, i), claimSize, raw, cut))
		}
	}
	measured := time.Since(measureStart)
	report := benchUploadReport(results, benchReportInfo{
		size: size, rawStored: benchStored(t, raw), qcow2Size: benchFileSize(t, qcow2), runs: runs,
		loadBefore: loadBefore, loadAfter: benchLoadavg(), measured: measured, total: time.Since(began),
	})
	fmt.Print("\n" + report)
	if path := os.Getenv("CDI_BENCH_REPORT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(report), 0o644), "CDI_BENCH_REPORT")
	}
}

// benchUploadSize is CDI_BENCH_SIZE (a quantity, default 2Gi), a whole
// number of MiB.
func benchUploadSize(t *testing.T) int64 {
	t.Helper()
	s := os.Getenv("CDI_BENCH_SIZE")
	if s == "" {
		s = "2Gi"
	}
	q, err := resource.ParseQuantity(s)
	require.NoError(t, err, "CDI_BENCH_SIZE")
	n := q.Value()
	require.True(t, n >= 64*benchMiB && n%benchMiB == 0, "CDI_BENCH_SIZE %s: at least 64Mi, whole MiB", s)
	return n
}

// benchClaimSize is the size of the claims: the image plus 6% for the
// file system, rounded up to MiB, as cdictl sizes a claim it creates.
func benchClaimSize(size int64) string {
	return strconv.FormatInt((size+size*6/100+benchMiB-1)/benchMiB, 10) + "Mi"
}

// benchUploadImages makes (once, cached in CDI_BENCH_CACHE, default
// /var/tmp/cdi-functions-bench) disk.raw, size bytes: qemu-img create,
// then 1 MiB extents from /dev/urandom written with dd at 30% of the MiB
// offsets (seeded), the rest holes; and disk.qcow2, qemu-img convert of it.
// It returns the directory.
func benchUploadImages(t *testing.T, size int64) string {
	t.Helper()
	cache := os.Getenv("CDI_BENCH_CACHE")
	if cache == "" {
		cache = "/var/tmp/cdi-functions-bench"
	}
	dir := filepath.Join(cache, fmt.Sprintf("upload-v1-seed1-%dMiB", size/benchMiB))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	if _, err := os.Stat(filepath.Join(dir, "disk.qcow2")); err == nil {
		return dir
	}
	start := time.Now()
	extents := int(size / benchMiB)
	r := rand.New(rand.NewPCG(1, 1))
	picked := r.Perm(extents)[:extents*30/100]
	sort.Ints(picked)
	var seeks strings.Builder
	for _, k := range picked {
		fmt.Fprintf(&seeks, "%d ", k)
	}
	tooltest.Sh(t, dir, fmt.Sprintf(`
rm -f disk.raw.tmp disk.qcow2.tmp
qemu-img create -q -f raw disk.raw.tmp %d
for k in %s; do dd if=/dev/urandom of=disk.raw.tmp bs=1M count=1 seek=$k conv=notrunc status=none; done
mv disk.raw.tmp disk.raw
qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2.tmp
mv disk.qcow2.tmp disk.qcow2
`, size, seeks.String()))
	fmt.Printf("bench-upload: made %s (%d MiB raw, %d MiB of data in 1 MiB extents) in %s\n", dir, size/benchMiB, len(picked), timeSince(start))
	return dir
}

// benchBuildCdictl builds cmd/cdictl into a temporary directory.
func benchBuildCdictl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cdictl")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/cdictl")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/cdictl:\n%s", out)
	return bin
}

// benchStartSink runs uploadsink on a claim of the default storage class
// (the upload claims' class) behind a NodePort Service, and returns its
// base URL on the node.
func benchStartSink(t *testing.T, ns, image, claimSize string) string {
	t.Helper()
	ctx := context.Background()
	q := resource.MustParse(claimSize)
	q.Add(q) // the plain reference writes every byte
	createClaim(t, ns, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-sink"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q}},
		},
	})
	labels := map[string]string{"app": "uploadsink"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "uploadsink", Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptrTo[int64](1),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptrTo(true), RunAsUser: ptrTo[int64](65532), RunAsGroup: ptrTo[int64](65532), FSGroup: ptrTo[int64](65532),
			},
			Containers: []corev1.Container{{
				Name: "uploadsink", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Args:           []string{":8080", "/data"},
				Ports:          []corev1.ContainerPort{{ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
				VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "bench-sink"},
			}}},
		},
	}
	_, err := e2e.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err, "create the uploadsink pod")
	svc, err := e2e.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "uploadsink"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: labels,
			Ports: []corev1.ServicePort{{Port: 8080, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err, "create the uploadsink Service")
	waitRunningReady(t, ns, "uploadsink")
	url := "http://" + net.JoinHostPort(gateway, strconv.Itoa(int(svc.Spec.Ports[0].NodePort)))
	eventually(t, time.Minute, "uploadsink through its NodePort", func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return url
}

// benchResult is one measured upload.
type benchResult struct {
	// sent is the request body's length.
	sent int64
	// transfer: the body's first byte read for sending to its last
	// (io.EOF); answer: first byte to the response; done: first byte to
	// the claim's Succeeded (0 for the reference).
	transfer, answer, done time.Duration
	// resumed and resent are cdictl's report of a resumed upload.
	resumed     int
	resentBytes int64
	// stall is, for a cut upload, the time from the cut until the upload
	// flowed again (1 MiB sent on new connections).
	stall        time.Duration
	proxy, mover benchPeak
}

func (r benchResult) String() string {
	s := fmt.Sprintf("%d MiB: transfer %.2f s (%.0f MiB/s), answer %.2f s", r.sent/benchMiB, r.transfer.Seconds(),
		benchRate(r.sent, r.transfer), r.answer.Seconds())
	if r.done > 0 {
		s += fmt.Sprintf(", Succeeded %.2f s", r.done.Seconds())
	}
	if r.proxy.pids > 0 {
		s += fmt.Sprintf("; proxy %s; upload pod %s", r.proxy, r.mover)
	}
	if r.resumed > 0 {
		s += fmt.Sprintf("; resumed %d, %d bytes sent, flowing again %.2f s after the cut", r.resumed, r.resentBytes, r.stall.Seconds())
	}
	return s
}

func benchRate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / benchMiB / d.Seconds()
}

// benchBody is an upload's body: the file, streamed, with the times of
// its first read and its end.
type benchBody struct {
	f           *os.File
	first, last time.Time
}

func (b *benchBody) Read(p []byte) (int, error) {
	if b.first.IsZero() {
		b.first = time.Now()
	}
	n, err := b.f.Read(p)
	if errors.Is(err, io.EOF) && b.last.IsZero() {
		b.last = time.Now()
	}
	return n, err
}

// benchClient is the HTTP client of every measured POST, proxy and
// reference alike: HTTP/1.1 (the proxy speaks nothing else), the proxy's
// own certificate not verified (curl --insecure), a 64 KiB write buffer
// as curl's upload buffer.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as curl --insecure
		WriteBufferSize: 64 << 10, ReadBufferSize: 64 << 10, DisableCompression: true,
	}}
}

// benchPost POSTs the file at path to url, streamed (Content-Length set),
// with the headers (key, value pairs), and returns the times and the
// answer; the file is read once before, so that it comes from the page
// cache, and the file systems are synced after (untimed).
func benchPost(t *testing.T, url, path string, kv ...string) (benchResult, *benchBody, string) {
	t.Helper()
	benchWarm(t, path)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	body := &benchBody{f: f}
	req, err := http.NewRequest(http.MethodPost, url, body)
	require.NoError(t, err)
	req.ContentLength = st.Size()
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := benchClient().Do(req)
	require.NoError(t, err, "POST %s to %s", path, url)
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	answered := time.Now()
	require.Equal(t, http.StatusOK, resp.StatusCode, "POST %s to %s: %s", path, url, msg)
	require.False(t, body.last.IsZero(), "the whole body was sent")
	return benchResult{sent: st.Size(), transfer: body.last.Sub(body.first), answer: answered.Sub(body.first)}, body, strings.TrimSpace(string(msg))
}

// benchPostSink is the reference: the file POSTed to uploadsink at url.
func benchPostSink(t *testing.T, url, path string) benchResult {
	t.Helper()
	r, _, msg := benchPost(t, url, path)
	require.Contains(t, msg, fmt.Sprintf("stored %d bytes", r.sent), "uploadsink's answer")
	syscall.Sync()
	return r
}

// benchWarm reads the file once, so that uploads read it from the page
// cache.
func benchWarm(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	require.NoError(t, err, "read %s", path)
}

// benchUploadClaim is a claim of size annotated as an upload target.
func benchUploadClaim(name, size string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annotations.UploadTarget: ""}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

// benchReadyUpload creates the upload target ns/name and waits for its
// upload pod to listen (cdi.kubevirt.io/storage.pod.ready: "true"); it
// returns the upload pod, its container started.
func benchReadyUpload(t *testing.T, ns, name, size string) *corev1.Pod {
	t.Helper()
	createClaim(t, ns, benchUploadClaim(name, size))
	var readySince time.Time
	eventually(t, 3*time.Minute, "claim "+ns+"/"+name+" "+annotations.PodReady+"=true", func(ctx context.Context) (bool, error) {
		c, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if c.Annotations[annotations.PodReady] == "true" {
			return true, nil
		}
		// A known race (eventsource and updater): the pod's "Running,
		// not ready" and "Running, ready" phase events, sent concurrently
		// milliseconds apart, can reach the updater in the wrong order, and
		// the claim then says ready "false" for good. cdictl would wait
		// for it in vain; the bench, which does not measure the pod's
		// start, sets the annotation itself once the pod has been Ready
		// for 10 s, and says so.
		p, err := e2e.client.CoreV1().Pods(ns).Get(ctx, datapod.UploadPodName(name), metav1.GetOptions{})
		if err != nil || !benchPodReady(p) {
			readySince = time.Time{}
			return false, nil
		}
		if readySince.IsZero() {
			readySince = time.Now()
		}
		if time.Since(readySince) < 10*time.Second {
			return false, nil
		}
		fmt.Printf("bench-upload: WORKAROUND: upload pod %s/%s Ready for 10 s, claim says %s=%q: setting it to \"true\"\n",
			ns, p.Name, annotations.PodReady, c.Annotations[annotations.PodReady])
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, annotations.PodReady)
		_, err = e2e.client.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return err == nil, err
	})
	var pod *corev1.Pod
	eventually(t, time.Minute, "the upload pod of "+name+" running", func(ctx context.Context) (bool, error) {
		var err error
		pod, err = e2e.client.CoreV1().Pods(ns).Get(ctx, datapod.UploadPodName(name), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return len(pod.Status.ContainerStatuses) > 0 && pod.Status.ContainerStatuses[0].ContainerID != "", nil
	})
	return pod
}

// benchPodReady reports the pod's Ready condition.
func benchPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// benchToken asks the UploadTokenRequest API (v1beta1) for a token for
// the claim ns/name.
func benchToken(t *testing.T, ns, name string) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"apiVersion": "upload.cdi.kubevirt.io/v1beta1", "kind": "UploadTokenRequest",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"pvcName": name},
	})
	require.NoError(t, err)
	raw, err := e2e.client.Discovery().RESTClient().Post().
		AbsPath("/apis/upload.cdi.kubevirt.io/v1beta1/namespaces/"+ns+"/uploadtokenrequests").
		SetHeader("Content-Type", "application/json").Body(body).DoRaw(context.Background())
	require.NoError(t, err, "UploadTokenRequest for %s/%s: %s", ns, name, raw)
	var res struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	require.NoError(t, json.Unmarshal(raw, &res), "%s", raw)
	require.NotEmpty(t, res.Status.Token, "status.token: %s", raw)
	return res.Status.Token
}

// benchProxyUpload uploads the file at path through the proxy's url into
// a new upload target ns/name, streamed, and waits for the claim's
// Succeeded; disk.img must then be the raw image want. The proxy's and
// the upload pod's peak RSS are sampled while it runs.
func benchProxyUpload(t *testing.T, ns, name, size, url, path, want string) benchResult {
	t.Helper()
	pod := benchReadyUpload(t, ns, name, size)
	token := benchToken(t, ns, name)
	succeeded := benchWatchFinal(t, ns, name)
	mon := benchMonitor(t, pod)
	r, body, msg := benchPost(t, url, path, "Authorization", "Bearer "+token)
	out := <-succeeded
	r.proxy, r.mover = mon.stop()
	require.Equal(t, annotations.PhaseSucceeded, out.phase, "claim %s/%s: %s (proxy answered %q)", ns, name, out.message, msg)
	r.done = out.at.Sub(body.first)
	benchRequireDisk(t, ns, name, want)
	benchDeleteClaim(t, ns, name)
	syscall.Sync()
	return r
}

// benchFinal is when the claim reached its final phase.
type benchFinal struct {
	at             time.Time
	phase, message string
}

// benchWatchFinal watches the claim ns/name and sends on the returned
// channel when its phase is final (Succeeded or Failed), or Failed with
// the reason after benchUploadTimeout.
func benchWatchFinal(t *testing.T, ns, name string) <-chan benchFinal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchUploadTimeout)
	claims := e2e.client.CoreV1().PersistentVolumeClaims(ns)
	w, err := claims.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	require.NoError(t, err, "watch claim %s/%s", ns, name)
	ch := make(chan benchFinal, 1)
	go func() {
		defer cancel()
		for {
			for ev := range w.ResultChan() {
				c, ok := ev.Object.(*corev1.PersistentVolumeClaim)
				if !ok || ev.Type == watch.Deleted {
					continue
				}
				if p := c.Annotations[annotations.PodPhase]; annotations.Final(p) {
					w.Stop()
					ch <- benchFinal{at: time.Now(), phase: p, message: c.Annotations[annotations.Message]}
					return
				}
			}
			// The watch ended: open it again (a new watch starts with the
			// claim as it is), unless the time is up.
			if ctx.Err() != nil {
				ch <- benchFinal{at: time.Now(), phase: annotations.PhaseFailed, message: "no final phase within " + benchUploadTimeout.String()}
				return
			}
			if w, err = claims.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name}); err != nil {
				ch <- benchFinal{at: time.Now(), phase: annotations.PhaseFailed, message: "watch: " + err.Error()}
				return
			}
		}
	}()
	return ch
}

// benchRequireDisk checks that the claim's disk.img is the raw image at
// want, followed by zeros up to its size.
func benchRequireDisk(t *testing.T, ns, name, want string) {
	t.Helper()
	c, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	got, err := os.Open(filepath.Join(volumeDir(t, c), "disk.img"))
	require.NoError(t, err)
	defer got.Close()
	exp, err := os.Open(want)
	require.NoError(t, err)
	defer exp.Close()
	g, e := bufio.NewReaderSize(got, 4*benchMiB), bufio.NewReaderSize(exp, 4*benchMiB)
	a, b := make([]byte, benchMiB), make([]byte, benchMiB)
	for off := int64(0); ; off += benchMiB {
		n, err := io.ReadFull(e, b)
		if n == 0 {
			break
		}
		require.False(t, err != nil && !errors.Is(err, io.ErrUnexpectedEOF), "read %s: %v", want, err)
		_, err = io.ReadFull(g, a[:n])
		require.NoError(t, err, "disk.img of %s/%s is shorter than the image", ns, name)
		require.True(t, bytes.Equal(a[:n], b[:n]), "disk.img of %s/%s differs from %s in the MiB at %d", ns, name, want, off)
	}
	for {
		n, err := g.Read(a)
		require.True(t, allZero(a[:n]), "disk.img of %s/%s is zeros after the image", ns, name)
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err)
	}
}

// benchDeleteClaim deletes the claim (its volume is freed in the
// background).
func benchDeleteClaim(t *testing.T, ns, name string) {
	t.Helper()
	err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	require.NoError(t, err, "delete claim %s/%s", ns, name)
}

// benchPeak is what the bench saw of a container's processes while an
// upload ran: the largest peak RSS (VmHWM) and the CPU time they used.
type benchPeak struct {
	pids int
	hwm  int64
	cpu  time.Duration
}

func (p benchPeak) String() string {
	return fmt.Sprintf("peak RSS %.0f MiB, CPU %.2f s", float64(p.hwm)/benchMiB, p.cpu.Seconds())
}

// benchProc is one process sampled from /proc.
type benchProc struct {
	pid        int
	hwm        int64
	cpu0, cpu1 time.Duration
	seen       bool
}

// benchSampler samples the VmHWM and CPU time of the upload proxy's
// processes and of an upload pod's every 50 ms until stop.
type benchSampler struct {
	proxy, mover []*benchProc
	done         chan struct{}
	stopped      chan struct{}
}

// benchMonitor starts sampling the upload proxy's processes (their
// VmHWM reset first: the proxy lives longer than one upload) and those
// of the upload pod.
func benchMonitor(t *testing.T, uploadPod *corev1.Pod) *benchSampler {
	t.Helper()
	proxies, err := e2e.client.CoreV1().Pods("cdi").List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=uploadproxy"})
	require.NoError(t, err)
	s := &benchSampler{done: make(chan struct{}), stopped: make(chan struct{})}
	for i := range proxies.Items {
		for _, pid := range benchPodPids(t, &proxies.Items[i]) {
			// Writing 5 to clear_refs resets the peak RSS to the current RSS.
			require.NoError(t, os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0), "reset the upload proxy's VmHWM")
			s.proxy = append(s.proxy, &benchProc{pid: pid})
		}
	}
	require.NotEmpty(t, s.proxy, "the upload proxy's processes")
	for _, pid := range benchPodPids(t, uploadPod) {
		s.mover = append(s.mover, &benchProc{pid: pid})
	}
	require.NotEmpty(t, s.mover, "the upload pod's processes")
	s.sample()
	go func() {
		defer close(s.stopped)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.done:
				s.sample()
				return
			case <-tick.C:
				s.sample()
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the proxy's and the upload pod's
// peaks. The upload pod exits after its upload: what it did after the
// last sample (at most 50 ms) is not seen.
func (s *benchSampler) stop() (proxy, mover benchPeak) {
	close(s.done)
	<-s.stopped
	sum := func(ps []*benchProc) benchPeak {
		var p benchPeak
		for _, b := range ps {
			p.pids++
			p.hwm = max(p.hwm, b.hwm)
			p.cpu += b.cpu1 - b.cpu0
		}
		return p
	}
	return sum(s.proxy), sum(s.mover)
}

func (s *benchSampler) sample() {
	for _, p := range append(append([]*benchProc{}, s.proxy...), s.mover...) {
		hwm, cpu, ok := benchReadProc(p.pid)
		if !ok {
			continue
		}
		p.hwm = max(p.hwm, hwm)
		if !p.seen {
			p.cpu0, p.seen = cpu, true
		}
		p.cpu1 = cpu
	}
}

// benchReadProc reads a process's VmHWM and user+system CPU time; ok is
// false once it is gone.
func benchReadProc(pid int) (hwm int64, cpu time.Duration, ok bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, found := strings.CutPrefix(line, "VmHWM:"); found {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			hwm = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// Fields after the command's closing parenthesis: state is the 3rd
	// field of the line, utime the 14th, stime the 15th (clock ticks of
	// 1/100 s).
	rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, 0, false
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return hwm, time.Duration(ut+st) * 10 * time.Millisecond, true
}

// benchPodPids returns the host pids of the pod's containers, from their
// memory cgroups (cgroup v1, kubelet's cgroupfs driver:
// /sys/fs/cgroup/memory/kubepods[/QOS]/pod<UID>/<container ID>).
func benchPodPids(t *testing.T, pod *corev1.Pod) []int {
	t.Helper()
	var pids []int
	for _, c := range pod.Status.ContainerStatuses {
		_, id, ok := strings.Cut(c.ContainerID, "://")
		require.True(t, ok, "container %s of %s/%s has no id", c.Name, pod.Namespace, pod.Name)
		var files []string
		for _, pattern := range []string{"/sys/fs/cgroup/memory/kubepods/pod%s/%s/cgroup.procs", "/sys/fs/cgroup/memory/kubepods/*/pod%s/%s/cgroup.procs"} {
			m, err := filepath.Glob(fmt.Sprintf(pattern, pod.UID, id))
			require.NoError(t, err)
			files = append(files, m...)
		}
		require.Len(t, files, 1, "the memory cgroup of container %s of %s/%s", c.Name, pod.Namespace, pod.Name)
		b, err := os.ReadFile(files[0])
		require.NoError(t, err)
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			require.NoError(t, err, "%s", files[0])
			pids = append(pids, pid)
		}
	}
	return pids
}

// benchRelay is a loopback TCP relay in front of the upload proxy that
// counts what clients send and, when cutAt > 0, cuts every connection
// once, when that many bytes have passed: a network that breaks halfway.
type benchRelay struct {
	l      net.Listener
	target string
	cutAt  int64
	sent   atomic.Int64
	cut    atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	// cutTime is when the connections were cut; after counts what clients
	// sent on connections opened after it, and resumed is when that passed
	// 1 MiB: the upload flows again.
	cutTime, resumed time.Time
	after            int64
}

// newBenchRelay starts a relay on 127.0.0.1 in front of target.
func newBenchRelay(t *testing.T, target string, cutAt int64) *benchRelay {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &benchRelay{l: l, target: target, cutAt: cutAt, conns: map[net.Conn]struct{}{}}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go r.relay(in)
		}
	}()
	t.Cleanup(func() { _ = l.Close(); r.cutAll() })
	return r
}

func (r *benchRelay) relay(in net.Conn) {
	out, err := net.DialTimeout("tcp", r.target, 10*time.Second)
	if err != nil {
		_ = in.Close()
		return
	}
	r.mu.Lock()
	r.conns[in], r.conns[out] = struct{}{}, struct{}{}
	late := !r.cutTime.IsZero()
	r.mu.Unlock()
	defer func() { _ = in.Close(); _ = out.Close() }()
	go func() { _, _ = io.Copy(in, out); _ = in.Close(); _ = out.Close() }()
	buf := make([]byte, 256<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return
			}
			if late {
				r.mu.Lock()
				if r.after += int64(n); r.after >= benchMiB && r.resumed.IsZero() {
					r.resumed = time.Now()
				}
				r.mu.Unlock()
			}
			if total := r.sent.Add(int64(n)); r.cutAt > 0 && total >= r.cutAt && r.cut.CompareAndSwap(false, true) {
				r.mu.Lock()
				r.cutTime = time.Now()
				r.mu.Unlock()
				r.cutAll()
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// cutAll closes every connection open now.
func (r *benchRelay) cutAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		_ = c.Close()
	}
	r.conns = map[net.Conn]struct{}{}
}

// benchResumedLine is cdictl's summary of a resumed upload.
var benchResumedLine = regexp.MustCompile(`resumed (\d+) times; (\d+) bytes sent for (\d+)`)

// benchCdictl runs cdictl upload of the file at path into a new upload
// target ns/name (created and ready first, so that the pod's start is not
// measured) through a loopback relay that, with cut, cuts the connection
// once when half the file has passed. The time runs from cdictl's start
// to the claim's Succeeded.
func benchCdictl(t *testing.T, cdictl, ns, name, size, path string, cut bool) benchResult {
	t.Helper()
	benchWarm(t, path)
	fsize := benchFileSize(t, path)
	pod := benchReadyUpload(t, ns, name, size)
	var cutAt int64
	if cut {
		cutAt = fsize / 2
	}
	relay := newBenchRelay(t, net.JoinHostPort(gateway, strconv.Itoa(benchProxyPort)), cutAt)
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		kubeconfig = filepath.Join(stateDir(), "kubeconfig")
	}
	ctx, cancel := context.WithTimeout(context.Background(), benchUploadTimeout)
	defer cancel()
	succeeded := benchWatchFinal(t, ns, name)
	mon := benchMonitor(t, pod)
	cmd := exec.CommandContext(ctx, cdictl, "upload", "--kubeconfig", kubeconfig, "--namespace", ns, "--pvc", name, "--no-create",
		"--image", path, "--insecure", "--uploadproxy-url", "https://"+relay.l.Addr().String())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	require.NoError(t, cmd.Start(), "start cdictl")
	err := cmd.Wait()
	final := <-succeeded
	r := benchResult{sent: fsize, done: final.at.Sub(start)}
	r.proxy, r.mover = mon.stop()
	require.NoError(t, err, "cdictl upload:\nstdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	require.Equal(t, annotations.PhaseSucceeded, final.phase, "claim %s/%s: %s", ns, name, final.message)
	r.answer, r.transfer = r.done, r.done
	if m := benchResumedLine.FindStringSubmatch(errOut.String()); m != nil {
		r.resumed, _ = strconv.Atoi(m[1])
		r.resentBytes, _ = strconv.ParseInt(m[2], 10, 64)
	}
	require.Equal(t, cut, relay.cut.Load(), "the relay cut the connection")
	if cut {
		require.Positive(t, r.resumed, "cdictl resumed after the cut:\n%s", errOut.String())
		relay.mu.Lock()
		require.False(t, relay.resumed.IsZero(), "the upload went on after the cut")
		r.stall = relay.resumed.Sub(relay.cutTime)
		relay.mu.Unlock()
	}
	benchRequireDisk(t, ns, name, path)
	benchDeleteClaim(t, ns, name)
	syscall.Sync()
	return r
}

// benchFileSize is the size of the file at path.
func benchFileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Size()
}

// benchStored is the bytes the file at path has allocated.
func benchStored(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Sys().(*syscall.Stat_t).Blocks * 512
}

// benchLoadavg is the first three fields of /proc/loadavg.
func benchLoadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// benchReportInfo is what the report says about the run.
type benchReportInfo struct {
	size, rawStored, qcow2Size int64
	runs                       int
	loadBefore, loadAfter      string
	measured, total            time.Duration
}

// benchMedian summarises the runs of one case: each duration is its
// median over the runs (the mean of the middle two of an even number),
// each peak RSS the largest seen.
func benchMedian(rs []benchResult) benchResult {
	if len(rs) == 0 {
		return benchResult{}
	}
	med := func(get func(benchResult) time.Duration) time.Duration {
		d := make([]time.Duration, len(rs))
		for i, r := range rs {
			d[i] = get(r)
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		if len(d)%2 == 0 {
			return (d[len(d)/2-1] + d[len(d)/2]) / 2
		}
		return d[len(d)/2]
	}
	m := rs[0]
	m.transfer = med(func(r benchResult) time.Duration { return r.transfer })
	m.answer = med(func(r benchResult) time.Duration { return r.answer })
	m.done = med(func(r benchResult) time.Duration { return r.done })
	m.stall = med(func(r benchResult) time.Duration { return r.stall })
	m.resentBytes = int64(med(func(r benchResult) time.Duration { return time.Duration(r.resentBytes) }))
	m.resumed = int(med(func(r benchResult) time.Duration { return time.Duration(r.resumed) }))
	for _, r := range rs {
		m.proxy.hwm = max(m.proxy.hwm, r.proxy.hwm)
		m.mover.hwm = max(m.mover.hwm, r.mover.hwm)
	}
	return m
}

// benchUploadReport formats the results as markdown.
func benchUploadReport(results map[string][]benchResult, info benchReportInfo) string {
	var b strings.Builder
	r := func(name string) benchResult { return benchMedian(results[name]) }
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	secs := func(d time.Duration) string {
		if d <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", d.Seconds())
	}
	fmt.Fprintf(&b, "- images: disk.raw %d MiB (%d MiB stored: 1 MiB extents from /dev/urandom at 30%% of the offsets, holes elsewhere), disk.qcow2 %d MiB (qemu-img convert)\n",
		info.size/benchMiB, info.rawStored/benchMiB, info.qcow2Size/benchMiB)
	fmt.Fprintf(&b, "- machine: %d CPUs; load average before %s, after %s; %s to measure, %s in all; %d run(s), times are medians\n",
		runtime.NumCPU(), info.loadBefore, info.loadAfter, info.measured.Round(time.Second), info.total.Round(time.Second), info.runs)
	b.WriteString("- client: Go net/http, HTTP/1.1, the body streamed from the file (page cache), 64 KiB write buffer; proxy: https://NODE:31001/v1beta1/upload; reference: uploadsink pod, http://NODE:NODEPORT/{sparse,plain}, fsync before 200\n")
	b.WriteString("- transfer: first body byte read for sending → last; answer: first byte → the HTTP answer (the proxy answers once disk.img is written and synced); Succeeded: first byte → the claim's cdi.kubevirt.io/storage.pod.phase: Succeeded seen by a watch\n\n")

	b.WriteString("| upload | body MiB | transfer s | MiB/s | answer s | Succeeded s | proxy peak RSS MiB | proxy CPU s | upload pod peak RSS MiB | upload pod CPU s |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, name := range []string{"proxy raw", "ref raw sparse", "ref raw plain", "proxy qcow2", "ref qcow2"} {
		x := r(name)
		mem := "| – | – | – | – |"
		if x.proxy.pids > 0 {
			mem = fmt.Sprintf("| %.0f | %.2f | %.0f | %.2f |", float64(x.proxy.hwm)/benchMiB, x.proxy.cpu.Seconds(), float64(x.mover.hwm)/benchMiB, x.mover.cpu.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %s | %s %s\n", name, x.sent/benchMiB, secs(x.transfer), benchRate(x.sent, x.transfer), secs(x.answer), secs(x.done), mem)
	}
	b.WriteString("\n| ratio | value | target | verdict |\n|---|---|---|---|\n")
	ratio := func(a, c time.Duration) float64 {
		if c <= 0 {
			return 0
		}
		return a.Seconds() / c.Seconds()
	}
	pr, rs, rp, pq, rq := r("proxy raw"), r("ref raw sparse"), r("ref raw plain"), r("proxy qcow2"), r("ref qcow2")
	rawAnswer := ratio(pr.answer, rs.answer)
	fmt.Fprintf(&b, "| raw: proxy answer / reference (sparse) answer | %.2f× | ≤ 1.3× | %s |\n", rawAnswer, verdict(rawAnswer <= 1.3))
	fmt.Fprintf(&b, "| raw: proxy transfer / reference (sparse) transfer | %.2f× | | |\n", ratio(pr.transfer, rs.transfer))
	fmt.Fprintf(&b, "| raw: proxy to Succeeded / reference (sparse) answer | %.2f× | | |\n", ratio(pr.done, rs.answer))
	fmt.Fprintf(&b, "| raw: proxy answer / reference (plain, every byte written) answer | %.2f× | | |\n", ratio(pr.answer, rp.answer))
	fmt.Fprintf(&b, "| qcow2: proxy answer / reference answer | %.2f× | | |\n", ratio(pq.answer, rq.answer))
	fmt.Fprintf(&b, "| qcow2: proxy to Succeeded / reference answer | %.2f× | | |\n", ratio(pq.done, rq.answer))
	peak := max(pr.proxy.hwm, pq.proxy.hwm)
	fmt.Fprintf(&b, "| upload proxy peak RSS (raw, qcow2) | %.0f MiB | < 200 MiB | %s |\n", float64(peak)/benchMiB, verdict(peak < 200*benchMiB))
	peak = max(pr.mover.hwm, pq.mover.hwm)
	fmt.Fprintf(&b, "| upload pod peak RSS (raw, qcow2) | %.0f MiB | < 200 MiB | %s |\n", float64(peak)/benchMiB, verdict(peak < 200*benchMiB))

	clean, cut := r("cdictl clean"), r("cdictl cut at 50%")
	fmt.Fprintf(&b, "\n| cdictl upload (tus) of disk.raw through a loopback relay (%d runs each, clean, cut, cut, clean) | start → Succeeded s | resumed | bytes sent MiB | flowing again after the cut s | proxy peak RSS MiB | upload pod peak RSS MiB |\n|---|---|---|---|---|---|---|\n",
		len(results["cdictl clean"]))
	for _, x := range []struct {
		name string
		r    benchResult
	}{{"clean", clean}, {"one cut at 50%", cut}} {
		sent := x.r.sent
		if x.r.resumed > 0 {
			sent = x.r.resentBytes
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %.0f | %.0f |\n", x.name, secs(x.r.done), x.r.resumed, sent/benchMiB, secs(x.r.stall),
			float64(x.r.proxy.hwm)/benchMiB, float64(x.r.mover.hwm)/benchMiB)
	}
	extra := ratio(cut.done-clean.done, clean.done) * 100
	// The direct estimate: the stall, plus the resent bytes at the clean
	// upload's rate.
	resent := max(cut.resentBytes-cut.sent, 0)
	direct := cut.stall + time.Duration(float64(resent)/float64(cut.sent)*float64(clean.done))
	directPct := ratio(direct, clean.done) * 100
	fmt.Fprintf(&b, "\n| resume | value | target | verdict |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| time lost to one cut at 50%%: cut − clean (medians) | %.2f s = %.1f%% of the clean upload | < 10%% | %s |\n", (cut.done - clean.done).Seconds(), extra, verdict(extra < 10))
	fmt.Fprintf(&b, "| the same, direct: stall after the cut %.2f s + %d MiB resent at the clean rate | %.2f s = %.1f%% | < 10%% | %s |\n",
		cut.stall.Seconds(), resent/benchMiB, direct.Seconds(), directPct, verdict(directPct < 10))
	return b.String()
}

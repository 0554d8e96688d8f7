//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/progress"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// The clone benchmark (make bench-clone, docs/performance.md "Clone"):
// a raw disk of CDI_BENCH_SIZE (default 2 GiB, 30% data in 1 MiB extents
// from /dev/urandom, holes elsewhere: bench-upload's disk.raw) imported
// into a source claim (setup, untimed), then CDI_BENCH_RUNS (default 5)
// clones of it into new claims of the same size, each against
// cp --sparse=always of the source's disk.img on the volumes' file
// system, as is and followed by sync of the copy, in the same run. The
// wire bytes are what the clone source wrote to its TCP connection, from
// its last log line.

// benchCloneTimeout bounds the wait for a clone's pods and their logs
// (benchWatchFinal bounds the wait for its final phase).
const benchCloneTimeout = 10 * time.Minute

// benchCloneRuns is the default number of measured clones.
const benchCloneRuns = 5

// TestBenchClone (make bench-clone) measures clones between two claims
// on the running cluster and prints one report: the wall time of each
// clone (claim created → Succeeded) split into pod start and the data
// pods' own time, cp --sparse=always of the same disk.img with and
// without sync, the ratios (target: clone ≤ 1.5× cp) and the bytes the
// source sent over the pod network against the bytes of data (target
// ≤ 1.05×). Every clone is compared with the image byte for byte.
func TestBenchClone(t *testing.T) {
	if os.Getenv("CDI_BENCH_CLONE") == "" {
		t.Skip("benchmark: run with make bench-clone")
	}
	tooltest.Need(t, "qemu-img", "dd", "cp", "sync")
	began := time.Now()
	loadBefore := benchLoadavg()
	size := benchUploadSize(t)
	runs := benchCloneRuns
	if v := os.Getenv("CDI_BENCH_RUNS"); v != "" {
		var err error
		runs, err = strconv.Atoi(v)
		require.NoError(t, err, "CDI_BENCH_RUNS")
		require.Positive(t, runs, "CDI_BENCH_RUNS")
	}
	for _, name := range []string{"cdi-importer", "cdi-cloner", "cdi-webhook", "cdi-updater", "cdi-eventsource"} {
		d, err := e2e.client.AppsV1().Deployments("cdi").Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err, "Deployment cdi/%s (make deploy)", name)
		waitRollout(t, d)
	}
	waitCloneComponents(t)
	// As in bench-upload: the suite's network sampler costs most of a CPU.
	require.NoError(t, e2e.stopWatcher(), "stop the suite's network sampler")

	dir := benchUploadImages(t, size)
	raw := filepath.Join(dir, "disk.raw")
	data := benchDataBytes(t, raw)
	srv := serve(t, sourcetest.Config{Handler: http.FileServer(http.Dir(dir))})
	ns := uploadNamespace(t)
	claimSize := strconv.FormatInt(size/benchMiB, 10) + "Mi"

	importStart := time.Now()
	golden := benchImportGolden(t, ns, "bench-golden", claimSize, srv.URL+"/disk.qcow2", raw)
	imported := time.Since(importStart)
	srcDisk := filepath.Join(volumeDir(t, golden), "disk.img")
	srcStored := benchStored(t, srcDisk)
	cpDir := benchScratchBeside(t, srcDisk, dir)
	fmt.Printf("bench-clone: %s imported into %s/bench-golden (%s, %d MiB stored) in %s; %d MiB of data; cp scratch in %s; %d run(s)\n",
		filepath.Join(dir, "disk.qcow2"), ns, claimSize, srcStored/benchMiB, imported.Round(100*time.Millisecond), data/benchMiB, cpDir, runs)

	var clones []benchCloneRun
	var cps, cpSyncs []time.Duration
	measureStart := time.Now()
	for run := range runs {
		steps := map[string]func(){
			"clone": func() {
				r := benchCloneOnce(t, ns, fmt.Sprintf("bench-clone-%d", run), claimSize, "bench-golden", raw, srcStored)
				clones = append(clones, r)
				fmt.Printf("bench-clone: run %d clone   %s\n", run, r)
			},
			"cp": func() {
				d := benchCp(t, srcDisk, filepath.Join(cpDir, "disk.img"), false, srcStored)
				cps = append(cps, d)
				fmt.Printf("bench-clone: run %d cp      %.2f s\n", run, d.Seconds())
			},
			"cp+sync": func() {
				d := benchCp(t, srcDisk, filepath.Join(cpDir, "disk.img"), true, srcStored)
				cpSyncs = append(cpSyncs, d)
				fmt.Printf("bench-clone: run %d cp+sync %.2f s\n", run, d.Seconds())
			},
		}
		// The order rotates, so that a change of the machine's load hits
		// the clone and the references alike.
		order := []string{"clone", "cp", "cp+sync"}
		for i := range order {
			step := order[(i+run)%len(order)]
			syscall.Sync()
			benchWarm(t, srcDisk)
			steps[step]()
		}
	}
	report := benchCloneReport(clones, cps, cpSyncs, benchCloneInfo{
		size: size, data: data, srcStored: srcStored, runs: runs, imported: imported,
		loadBefore: loadBefore, loadAfter: benchLoadavg(), measured: time.Since(measureStart), total: time.Since(began),
	})
	fmt.Print("\n" + report)
	if path := os.Getenv("CDI_BENCH_REPORT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(report), 0o644), "CDI_BENCH_REPORT")
	}
}

// benchDataBytes is the bytes of data of the sparse file at path: the
// sum of its data regions (SEEK_DATA, SEEK_HOLE).
func benchDataBytes(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	size := benchFileSize(t, path)
	var data int64
	for pos := int64(0); pos < size; {
		d, err := unix.Seek(int(f.Fd()), pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		require.NoError(t, err, "SEEK_DATA in %s at %d", path, pos)
		h, err := unix.Seek(int(f.Fd()), d, unix.SEEK_HOLE)
		require.NoError(t, err, "SEEK_HOLE in %s at %d", path, d)
		data += h - d
		pos = h
	}
	return data
}

// benchImportGolden imports url into a new claim ns/name of size, waits
// for its Succeeded and checks its disk.img is the raw image want; it
// returns the claim.
func benchImportGolden(t *testing.T, ns, name, size, url, want string) *corev1.PersistentVolumeClaim {
	t.Helper()
	final := benchWatchFinal(t, ns, name)
	createClaim(t, ns, importClaim(name, size, url))
	f := <-final
	require.Equal(t, annotations.PhaseSucceeded, f.phase, "import into %s/%s: %s", ns, name, f.message)
	benchRequireDisk(t, ns, name, want)
	return getClaim(t, ns, name)
}

// benchScratchBeside returns a new directory, removed at the end, on the
// file system of the file at path (the volumes'): in one of candidates
// if one is on it, else beside the file's directory.
func benchScratchBeside(t *testing.T, path string, candidates ...string) string {
	t.Helper()
	dev := func(p string) uint64 {
		var st unix.Stat_t
		require.NoError(t, unix.Stat(p, &st), "stat %s", p)
		return st.Dev
	}
	want := dev(path)
	parent := filepath.Dir(filepath.Dir(path))
	for _, c := range append(candidates, parent) {
		if dev(c) != want {
			continue
		}
		d, err := os.MkdirTemp(c, "bench-clone-cp-")
		require.NoError(t, err, "scratch directory for cp")
		t.Cleanup(func() { _ = os.RemoveAll(d) })
		return d
	}
	require.FailNow(t, "no directory on the file system of "+path+" for cp's copy")
	return ""
}

// benchCp times cp --sparse=always of src to dst, with flush followed by
// sync of dst (which fsyncs it), checks that the copy is sparse (stores
// at most 1% more than the source) and removes it (untimed).
func benchCp(t *testing.T, src, dst string, flush bool, srcStored int64) time.Duration {
	t.Helper()
	start := time.Now()
	out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput()
	require.NoError(t, err, "cp --sparse=always %s %s: %s", src, dst, out)
	if flush {
		out, err = exec.Command("sync", dst).CombinedOutput()
		require.NoError(t, err, "sync %s: %s", dst, out)
	}
	d := time.Since(start)
	require.LessOrEqual(t, benchStored(t, dst), srcStored+srcStored/100, "cp's copy is sparse")
	require.NoError(t, os.Remove(dst))
	syscall.Sync()
	return d
}

// benchCloneRun is one measured clone. Times are from the claim's
// creation unless said otherwise; the pods' log lines carry the container
// runtime's timestamps (this host's clock, as the bench's). A time is 0
// when the log that gives it could not be read.
type benchCloneRun struct {
	// wall: claim created → its Succeeded seen by a watch.
	wall time.Duration
	// targetSeen, sourceSeen: → the pod first seen by a watch;
	// targetUp, sourceUp: → its container seen running (the kubelet's
	// status update comes some time after the container started).
	targetSeen, sourceSeen, targetUp, sourceUp time.Duration
	// listening: → the target's first log line ("waiting for the clone
	// source"): the pods' start-up, scheduling and volumes included.
	listening time.Duration
	// targetRun is the data-pod time: the target's first log line → its
	// last ("cloned ..."), after the clone was written, synced and
	// renamed into place.
	targetRun time.Duration
	// sending: → the source's first progress line (after its connection,
	// the handshake and the first extent); transfer: that line → the
	// source's last ("cloned ...", once the target published the clone).
	sending, transfer time.Duration
	// tail: the target's last log line → Succeeded seen (event source,
	// updater). Negative: the target sends its Succeeded event before it
	// writes that line (functions/datamover finishClone).
	tail time.Duration
	// data, payload, wire are the source's report: logical bytes of data
	// extents, their payload after compression, bytes written to the TCP
	// connection (TLS and framing included); rounded to 0.01 of their
	// unit (MiB) by the log line.
	data, payload, wire int64
	compressed          int64
	// reconnects counts the source's "connecting again" warnings (the
	// target not listening yet, or a broken connection).
	reconnects int
	// stored is the bytes the clone's disk.img allocates.
	stored int64
	// logErr says why a pod's log was not read (the times it gives are 0).
	logErr string
}

func (r benchCloneRun) String() string {
	s := fmt.Sprintf("wall %.2f s (pods seen: target %.2f s, source %.2f s; running: target %.2f s, source %.2f s; target listening %.2f s; source sending %.2f s; target pod ran %.2f s, transfer %.2f s, Succeeded %+.2f s after the target's last line); wire %.2f MiB for %.2f MiB of data (payload %.2f MiB, %d extents compressed, %d reconnects); stored %d MiB",
		r.wall.Seconds(), r.targetSeen.Seconds(), r.sourceSeen.Seconds(), r.targetUp.Seconds(), r.sourceUp.Seconds(), r.listening.Seconds(),
		r.sending.Seconds(), r.targetRun.Seconds(), r.transfer.Seconds(), r.tail.Seconds(), float64(r.wire)/benchMiB, float64(r.data)/benchMiB, float64(r.payload)/benchMiB, r.compressed, r.reconnects, r.stored/benchMiB)
	if r.logErr != "" {
		s += "; LOGS: " + r.logErr
	}
	return s
}

// benchCloneOnce clones the claim ns/source into a new claim ns/name of
// size and measures it; the clone must be the raw image want (then
// zeros) and store at most 1% more than the source's srcStored. The
// claim is deleted after, once its clone pods are gone.
func benchCloneOnce(t *testing.T, ns, name, size, source, want string, srcStored int64) benchCloneRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchCloneTimeout)
	defer cancel()
	final := benchWatchFinal(t, ns, name)
	start := time.Now()
	c, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, cloneClaim(name, size, ns+"/"+source), metav1.CreateOptions{})
	require.NoError(t, err, "create clone claim %s/%s", ns, name)
	targetPod, sourcePod := datapod.CloneTargetPodName(name), datapod.CloneSourcePodName(string(c.UID))
	tlog := benchFollow(ctx, ns, targetPod, datapod.CloneTargetContainer)
	slog := benchFollow(ctx, ns, sourcePod, datapod.CloneSourceContainer)
	f := <-final
	require.Equal(t, annotations.PhaseSucceeded, f.phase, "clone %s/%s: %s", ns, name, f.message)
	r := benchCloneRun{wall: f.at.Sub(start)}
	// Both containers exit once the clone is published; their log streams
	// end then. A stream still open a minute later is given up.
	stop := time.AfterFunc(time.Minute, cancel)
	defer stop.Stop()
	tl, sl := <-tlog, <-slog
	var errs []string
	if tl.err != nil {
		errs = append(errs, "target: "+tl.err.Error())
	}
	if sl.err != nil {
		errs = append(errs, "source: "+sl.err.Error())
	}
	r.logErr = strings.Join(errs, "; ")
	since := func(at time.Time) time.Duration {
		if at.IsZero() {
			return 0
		}
		return at.Sub(start)
	}
	r.targetSeen, r.targetUp, r.sourceSeen, r.sourceUp = since(tl.seen), since(tl.started), since(sl.seen), since(sl.started)
	if first, last, ok := tl.span("waiting for the clone source", "cloned a "); ok {
		r.listening, r.targetRun, r.tail = first.Sub(start), last.Sub(first), f.at.Sub(last)
	} else if tl.err == nil {
		r.logErr += fmt.Sprintf("; target: no first or last line in %q", tl.text())
	}
	if first, last, ok := sl.span(string(progress.PhaseWriting)+": ", "cloned a "); ok {
		r.sending, r.transfer = first.Sub(start), last.Sub(first)
		m := benchSourceDone.FindStringSubmatch(sl.last("cloned a "))
		if m != nil {
			r.data, r.payload, r.wire = benchParseBytes(t, m[1]), benchParseBytes(t, m[2]), benchParseBytes(t, m[3])
			r.compressed, _ = strconv.ParseInt(m[4], 10, 64)
		} else {
			r.logErr += fmt.Sprintf("; source: last line %q not understood", sl.last("cloned a "))
		}
		r.reconnects = sl.count("connecting again")
	} else if sl.err == nil {
		r.logErr += fmt.Sprintf("; source: no first or last line in %q", sl.text())
	}
	r.logErr = strings.TrimPrefix(r.logErr, "; ")

	benchRequireDisk(t, ns, name, want)
	claim := getClaim(t, ns, name)
	require.Equal(t, "true", claim.Annotations[annotations.CloneOf], "annotations: %v", claim.Annotations)
	r.stored = benchStored(t, filepath.Join(volumeDir(t, claim), "disk.img"))
	require.LessOrEqual(t, r.stored, srcStored+srcStored/100, "the clone of %s/%s stores its holes as holes", ns, name)
	waitGone(t, time.Minute, "the clone pods of "+name, func(ctx context.Context) error {
		if _, err := e2e.client.CoreV1().Pods(ns).Get(ctx, targetPod, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return err
		}
		_, err := e2e.client.CoreV1().Pods(ns).Get(ctx, sourcePod, metav1.GetOptions{})
		return err
	})
	benchDeleteClaim(t, ns, name)
	// The provisioner removes the volume in the background: wait, so
	// that its removal does not overlap the next measurement.
	waitGone(t, 2*time.Minute, "volume "+claim.Spec.VolumeName, func(ctx context.Context) error {
		_, err := e2e.client.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
		return err
	})
	syscall.Sync()
	return r
}

// benchSourceDone is the clone source's last line (functions/datamover
// clone_source.go): data, payload, wire bytes and compressed extents.
var benchSourceDone = regexp.MustCompile(`: ([0-9.]+ [KMGTPE]?i?B) of data sent as ([0-9.]+ [KMGTPE]?i?B), ([0-9.]+ [KMGTPE]?i?B) on the wire \((\d+) extents compressed\)`)

// benchParseBytes reads progress.Bytes' format ("614.00 MiB", "12 B").
func benchParseBytes(t *testing.T, s string) int64 {
	t.Helper()
	num, unit, ok := strings.Cut(s, " ")
	require.True(t, ok, "bytes %q", s)
	v, err := strconv.ParseFloat(num, 64)
	require.NoError(t, err, "bytes %q", s)
	mult := int64(1)
	if unit != "B" {
		k := strings.IndexByte("KMGTPE", unit[0])
		require.True(t, k >= 0 && strings.HasSuffix(unit, "iB"), "bytes %q", s)
		mult = int64(1) << (10 * (k + 1))
	}
	return int64(v * float64(mult))
}

// benchLogLine is one line of a container's log with the container
// runtime's timestamp.
type benchLogLine struct {
	at   time.Time
	text string
}

// benchPodLog is what benchFollow saw of a pod: when a watch first saw
// it and its container running, and the container's log.
type benchPodLog struct {
	seen, started time.Time
	lines         []benchLogLine
	err           error
}

// span is the time of the first line starting with first and of the last
// starting with last.
func (l benchPodLog) span(first, last string) (time.Time, time.Time, bool) {
	var a, b time.Time
	for _, x := range l.lines {
		if a.IsZero() && strings.HasPrefix(x.text, first) {
			a = x.at
		}
		if strings.HasPrefix(x.text, last) {
			b = x.at
		}
	}
	return a, b, !a.IsZero() && !b.IsZero()
}

// last is the text of the last line starting with prefix.
func (l benchPodLog) last(prefix string) string {
	s := ""
	for _, x := range l.lines {
		if strings.HasPrefix(x.text, prefix) {
			s = x.text
		}
	}
	return s
}

// count is the number of lines containing s.
func (l benchPodLog) count(s string) int {
	n := 0
	for _, x := range l.lines {
		if strings.Contains(x.text, s) {
			n++
		}
	}
	return n
}

// text is the whole log, for messages.
func (l benchPodLog) text() string {
	var b strings.Builder
	for _, x := range l.lines {
		b.WriteString(x.text + "\n")
	}
	return b.String()
}

// benchFollow watches for the pod ns/name (it may not exist yet) and,
// once its container has started, follows that container's log to its
// end; the channel gets the result.
func benchFollow(ctx context.Context, ns, name, container string) <-chan benchPodLog {
	ch := make(chan benchPodLog, 1)
	go func() {
		var out benchPodLog
		out.seen, out.started, out.err = benchWaitStarted(ctx, ns, name, container)
		if out.err == nil {
			out.lines, out.err = benchReadLog(ctx, ns, name, container)
		}
		ch <- out
	}()
	return ch
}

// benchWaitStarted watches the pod ns/name until its container has
// started (running or terminated); it returns when the pod was first
// seen and when its container was seen started.
func benchWaitStarted(ctx context.Context, ns, name, container string) (seen, started time.Time, err error) {
	pods := e2e.client.CoreV1().Pods(ns)
	opts := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()}
	for {
		w, err := pods.Watch(ctx, opts)
		if err != nil {
			return seen, started, fmt.Errorf("watch pod %s/%s: %w", ns, name, err)
		}
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			if seen.IsZero() {
				seen = time.Now()
			}
			for _, s := range p.Status.ContainerStatuses {
				if s.Name == container && s.ContainerID != "" && (s.State.Running != nil || s.State.Terminated != nil) {
					w.Stop()
					return seen, time.Now(), nil
				}
			}
		}
		// The watch ended: open it again, unless the time is up.
		if err := ctx.Err(); err != nil {
			return seen, started, fmt.Errorf("container %s of pod %s/%s did not start: %w", container, ns, name, err)
		}
	}
}

// benchReadLog follows the log of the container of the pod ns/name, with
// timestamps, until the container ends.
func benchReadLog(ctx context.Context, ns, name, container string) ([]benchLogLine, error) {
	rc, err := e2e.client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: container, Follow: true, Timestamps: true}).Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("log of %s/%s: %w", ns, name, err)
	}
	defer rc.Close()
	var lines []benchLogLine
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ts, text, _ := strings.Cut(sc.Text(), " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return lines, fmt.Errorf("log of %s/%s: timestamp of %q: %w", ns, name, sc.Text(), err)
		}
		lines = append(lines, benchLogLine{at: at, text: text})
	}
	if err := sc.Err(); err != nil {
		return lines, fmt.Errorf("log of %s/%s: %w", ns, name, err)
	}
	return lines, nil
}

// benchCloneInfo is what the report says about the run.
type benchCloneInfo struct {
	size, data, srcStored int64
	runs                  int
	imported              time.Duration
	loadBefore, loadAfter string
	measured, total       time.Duration
}

// benchMedianOf is the median of ds (the mean of the middle two of an
// even number); zeros (not measured) are left out.
func benchMedianOf(ds []time.Duration) time.Duration {
	var d []time.Duration
	for _, x := range ds {
		if x > 0 {
			d = append(d, x)
		}
	}
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	if len(d)%2 == 0 {
		return (d[len(d)/2-1] + d[len(d)/2]) / 2
	}
	return d[len(d)/2]
}

// benchCloneReport formats the results as markdown.
func benchCloneReport(clones []benchCloneRun, cps, cpSyncs []time.Duration, info benchCloneInfo) string {
	var b strings.Builder
	secs := func(d time.Duration) string {
		if d <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", d.Seconds())
	}
	mib := func(n int64) string {
		if n <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", float64(n)/benchMiB)
	}
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	ratio := func(a, c time.Duration) string {
		if a <= 0 || c <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", a.Seconds()/c.Seconds())
	}
	fmt.Fprintf(&b, "- image: disk.raw %d MiB, %d MiB of data (1 MiB extents from /dev/urandom at 30%% of the offsets, holes elsewhere), served as disk.qcow2 and imported into the source claim in %s (setup, untimed); the source's disk.img stores %d MiB\n",
		info.size/benchMiB, info.data/benchMiB, info.imported.Round(100*time.Millisecond), info.srcStored/benchMiB)
	fmt.Fprintf(&b, "- machine: %d CPUs; load average before %s, after %s; %s to measure, %s in all; %d run(s) of clone, cp, cp+sync in a rotating order, after sync and a warm read of the source's disk.img; times are medians\n",
		runtime.NumCPU(), info.loadBefore, info.loadAfter, info.measured.Round(time.Second), info.total.Round(time.Second), info.runs)
	b.WriteString("- clone: a claim of the source's size annotated k8s.io/CloneRequest (same namespace); wall: claim created → its cdi.kubevirt.io/storage.pod.phase: Succeeded seen by a watch; the rest from the pods' log timestamps: target listening (first line of the clone-target pod), target pod (its first line → its last, after disk.img was synced and renamed: the data-pod time), source sending (the clone-source's first progress line), transfer (that line → its last); the target writes its last line just after it sent its Succeeded event, so Succeeded − that line is about 0 or negative; every clone compared with disk.raw byte for byte\n")
	b.WriteString("- references: `cp --sparse=always` of the source claim's disk.img to a file on the same file system, as is and followed by `sync` of the copy (fsync; the clone fsyncs disk.img); wire: bytes the clone source wrote to its TCP connection (TLS records, framing, handshake), from its last log line (0.01 MiB precision)\n\n")

	b.WriteString("| run | wall s | pods seen s (target, source) | containers running s (target, source) | target listening s | source sending s | target pod s | transfer s | Succeeded − target's last line s | wire MiB | data MiB | compressed extents | reconnects | clone stored MiB |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, r := range clones {
		fmt.Fprintf(&b, "| %d | %s | %s, %s | %s, %s | %s | %s | %s | %s | %+.2f | %s | %s | %d | %d | %d |\n", i, secs(r.wall), secs(r.targetSeen), secs(r.sourceSeen),
			secs(r.targetUp), secs(r.sourceUp), secs(r.listening), secs(r.sending), secs(r.targetRun), secs(r.transfer), r.tail.Seconds(), mib(r.wire), mib(r.data),
			r.compressed, r.reconnects, r.stored/benchMiB)
	}
	for i, r := range clones {
		if r.logErr != "" {
			fmt.Fprintf(&b, "\nrun %d: logs: %s\n", i, r.logErr)
		}
	}
	pick := func(get func(benchCloneRun) time.Duration) time.Duration {
		ds := make([]time.Duration, len(clones))
		for i, r := range clones {
			ds[i] = get(r)
		}
		return benchMedianOf(ds)
	}
	wall := pick(func(r benchCloneRun) time.Duration { return r.wall })
	listening := pick(func(r benchCloneRun) time.Duration { return r.listening })
	targetRun := pick(func(r benchCloneRun) time.Duration { return r.targetRun })
	transfer := pick(func(r benchCloneRun) time.Duration { return r.transfer })
	sourceUp := pick(func(r benchCloneRun) time.Duration { return r.sourceUp })
	sending := pick(func(r benchCloneRun) time.Duration { return r.sending })
	cp, cpSync := benchMedianOf(cps), benchMedianOf(cpSyncs)
	var cpList, cpSyncList []string
	for _, d := range cps {
		cpList = append(cpList, secs(d))
	}
	for _, d := range cpSyncs {
		cpSyncList = append(cpSyncList, secs(d))
	}

	b.WriteString("\n| median | s |\n|---|---|\n")
	fmt.Fprintf(&b, "| clone: wall (claim created → Succeeded) | %s |\n", secs(wall))
	fmt.Fprintf(&b, "| clone: claim created → target listening (pods starting) | %s |\n", secs(listening))
	fmt.Fprintf(&b, "| clone: claim created → source container seen running | %s |\n", secs(sourceUp))
	fmt.Fprintf(&b, "| clone: claim created → source sending (first progress line) | %s |\n", secs(sending))
	fmt.Fprintf(&b, "| clone: target pod, listening → done (data-pod time) | %s |\n", secs(targetRun))
	fmt.Fprintf(&b, "| clone: transfer (source's first progress → done) | %s |\n", secs(transfer))
	fmt.Fprintf(&b, "| `cp --sparse=always` (%s) | %s |\n", strings.Join(cpList, ", "), secs(cp))
	fmt.Fprintf(&b, "| `cp --sparse=always && sync copy` (%s) | %s |\n", strings.Join(cpSyncList, ", "), secs(cpSync))

	b.WriteString("\n| ratio | value | target | verdict |\n|---|---|---|---|\n")
	wallCp := 0.0
	if cp > 0 {
		wallCp = wall.Seconds() / cp.Seconds()
	}
	fmt.Fprintf(&b, "| clone wall / cp | %s | ≤ 1.5× | %s |\n", ratio(wall, cp), verdict(wall > 0 && wallCp <= 1.5))
	fmt.Fprintf(&b, "| clone wall / (cp + sync) | %s | | |\n", ratio(wall, cpSync))
	fmt.Fprintf(&b, "| data-pod time (target pod) / cp | %s | | |\n", ratio(targetRun, cp))
	fmt.Fprintf(&b, "| data-pod time (target pod) / (cp + sync) | %s | | |\n", ratio(targetRun, cpSync))
	fmt.Fprintf(&b, "| transfer / (cp + sync) | %s | | |\n", ratio(transfer, cpSync))
	var wires []string
	worst := 0.0
	for _, r := range clones {
		if r.wire <= 0 {
			continue
		}
		x := float64(r.wire) / float64(info.data)
		worst = max(worst, x)
		wires = append(wires, fmt.Sprintf("%.4f×", x))
	}
	if len(wires) == 0 {
		b.WriteString("| wire bytes / data bytes | – (no source log read) | ≤ 1.05× | MISS |\n")
	} else {
		fmt.Fprintf(&b, "| wire bytes / data bytes (largest of %s) | %.4f× | ≤ 1.05× | %s |\n", strings.Join(wires, ", "), worst, verdict(worst <= 1.05))
	}
	return b.String()
}

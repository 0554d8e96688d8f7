//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// TestBenchImports (make bench-e2e) creates CDI_BENCH_CLAIMS annotated
// claims (default 200) at once and reports, from the API server's view:
// claim creation to data pod created and to Succeeded (p50/p99), the
// updater's event rate, and the event source's memory.
func TestBenchImports(t *testing.T) {
	if os.Getenv("CDI_BENCH_E2E") == "" {
		t.Skip("benchmark: run with make bench-e2e")
	}
	n := 200
	if v := os.Getenv("CDI_BENCH_CLAIMS"); v != "" {
		_, err := fmt.Sscan(v, &n)
		require.NoError(t, err)
	}
	deploy(t)
	if knativeProfile() {
		var sum int64
		mem := podMemory(t, "knative-eventing", "")
		names := make([]string, 0, len(mem))
		for name := range mem {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Printf("knative at rest: %s %.1f MiB\n", name, float64(mem[name])/(1<<20))
			sum += mem[name]
		}
		fmt.Printf("knative at rest: all of knative-eventing %.1f MiB\n", float64(sum)/(1<<20))
	}
	im := makeImages(t)
	srv := serve(t, sourcetest.Config{Data: im.file(t, "disk.qcow2.xz")})
	ns := newNamespace(t)
	ctx := context.Background()

	// Watch pods and claims to timestamp every transition as it happens.
	var mu sync.Mutex
	podAt := map[string]time.Time{}  // claim -> first data pod seen
	doneAt := map[string]time.Time{} // claim -> Succeeded seen
	pw, err := e2e.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: datapod.LabelKind + "=" + datapod.KindImport})
	require.NoError(t, err)
	defer pw.Stop()
	cw, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	defer cw.Stop()
	go func() {
		for ev := range pw.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
				claim := p.Annotations[datapod.AnnotationClaimName]
				mu.Lock()
				if _, seen := podAt[claim]; !seen {
					podAt[claim] = time.Now()
				}
				mu.Unlock()
			}
		}
	}()
	go func() {
		for ev := range cw.ResultChan() {
			if c, ok := ev.Object.(*corev1.PersistentVolumeClaim); ok && c.Annotations[annotations.PodPhase] == annotations.PhaseSucceeded {
				mu.Lock()
				if _, seen := doneAt[c.Name]; !seen {
					doneAt[c.Name] = time.Now()
				}
				mu.Unlock()
			}
		}
	}()

	before := updaterEvents(t)
	created := map[string]time.Time{}
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("b%03d", i)
		created[name] = time.Now()
		createClaim(t, ns, importClaim(name, "64Mi", srv.URL+"/disk.qcow2.xz"))
	}
	createdIn := time.Since(start)
	var peakRSS int64
	eventually(t, 20*time.Minute, fmt.Sprintf("%d claims Succeeded", n), func(ctx context.Context) (bool, error) {
		if rss := eventSourceMemory(t); rss > peakRSS {
			peakRSS = rss
		}
		mu.Lock()
		defer mu.Unlock()
		return len(doneAt) == n, nil
	})
	total := time.Since(start)
	events := updaterEvents(t) - before

	mu.Lock()
	var toPod, toDone []time.Duration
	for name, c := range created {
		toPod = append(toPod, podAt[name].Sub(c))
		toDone = append(toDone, doneAt[name].Sub(c))
	}
	mu.Unlock()
	p := func(d []time.Duration, q float64) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[min(len(d)-1, int(q*float64(len(d))))].Round(10 * time.Millisecond)
	}
	fmt.Printf("\nbench-e2e (%s profile): %d claims created in %s, all Succeeded after %s\n", profileName(), n, createdIn.Round(time.Millisecond), total.Round(time.Second))
	fmt.Printf("| measure | p50 | p99 |\n|---|---|---|\n")
	fmt.Printf("| claim created -> data pod created | %s | %s |\n", p(toPod, 0.5), p(toPod, 0.99))
	fmt.Printf("| claim created -> Succeeded | %s | %s |\n", p(toDone, 0.5), p(toDone, 0.99))
	fmt.Printf("updater: %.0f events in %s = %.1f events/s\n", events, total.Round(time.Second), events/total.Seconds())
	fmt.Printf("event source: peak working set %.1f MiB during the run\n", float64(peakRSS)/(1<<20))
}

// updaterEvents sums the updater's handled-events counter over its pods,
// read through the API server's pod proxy.
func updaterEvents(t *testing.T) float64 {
	t.Helper()
	ctx := context.Background()
	pods, err := e2e.client.CoreV1().Pods("cdi").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=updater"})
	require.NoError(t, err)
	var sum float64
	for _, p := range pods.Items {
		b, err := e2e.client.CoreV1().Pods("cdi").ProxyGet("http", p.Name, "9090", "/metrics", nil).DoRaw(ctx)
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "cdi_function_events_total{") {
				var v float64
				fields := strings.Fields(line)
				_, _ = fmt.Sscan(fields[len(fields)-1], &v)
				sum += v
			}
		}
	}
	return sum
}

// eventSourceMemory is the event source pod's working set, from the
// kubelet's summary API.
func eventSourceMemory(t *testing.T) int64 {
	t.Helper()
	var sum int64
	for _, ws := range podMemory(t, "cdi", "cdi-eventsource-") {
		sum += ws
	}
	return sum
}

// podMemory is the working set of each pod of ns whose name starts with
// prefix, from the kubelet's summary API; empty when it cannot be read.
func podMemory(t *testing.T, ns, prefix string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	b, err := e2e.client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/cdi-node/proxy/stats/summary").DoRaw(context.Background())
	if err != nil {
		return got
	}
	var s struct {
		Pods []struct {
			PodRef struct{ Name, Namespace string }
			Memory struct{ WorkingSetBytes int64 }
		}
	}
	if json.Unmarshal(b, &s) != nil {
		return got
	}
	for _, p := range s.Pods {
		if p.PodRef.Namespace == ns && strings.HasPrefix(p.PodRef.Name, prefix) {
			got[p.PodRef.Name] = p.Memory.WorkingSetBytes
		}
	}
	return got
}

// TestBenchUpdater (make bench-e2e) feeds the updater authenticated
// DataPodPhase events directly, as the event source sends them (its
// ServiceAccount's token for audience cdi-functions), each one a new
// status for one of CDI_BENCH_CLAIMS claims (a GET and a PATCH of the
// claim), from 32 senders at once, and reports the events per second it
// sustains.
func TestBenchUpdater(t *testing.T) {
	if os.Getenv("CDI_BENCH_E2E") == "" {
		t.Skip("benchmark: run with make bench-e2e")
	}
	n, rounds, senders := 200, 10, 32
	if v := os.Getenv("CDI_BENCH_CLAIMS"); v != "" {
		_, err := fmt.Sscan(v, &n)
		require.NoError(t, err)
	}
	deploy(t)
	ns := newNamespace(t)
	ctx := context.Background()
	var claims []events.Claim
	for i := range n {
		c, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, importClaimWithout(fmt.Sprintf("u%03d", i)), metav1.CreateOptions{})
		require.NoError(t, err)
		claims = append(claims, events.Claim{Namespace: ns, Name: c.Name, UID: string(c.UID)})
	}
	token := componentToken(t, auth.EventSourceAccount)
	url, authz, via := serviceURL(t, "cdi-updater"), token, "directly"
	if knativeProfile() {
		// As the event source sends through the Broker: the Broker's
		// token in the header, the event source's own in the event.
		b := systemBroker(t)
		url, authz, via = b.url, serviceAccountToken(t, "cdi", auth.EventSourceAccount, b.audience), "through the Broker"
	}
	before := updaterEvents(t)

	work := make(chan cloudevents.Event)
	go func() {
		defer close(work)
		for r := 1; r <= rounds; r++ {
			for _, c := range claims {
				e, err := events.NewDataPodPhase(events.DataPodPhasePayload{Claim: c, Pod: events.Pod{Name: "importer-" + c.Name, UID: "bench"},
					Phase: events.PodRunning, Restarts: int32(r)}, time.Now())
				if err != nil {
					panic(err)
				}
				work <- withToken(e, token)
			}
		}
	}()
	var mu sync.Mutex
	codes := map[int]int{}
	start := time.Now()
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for e := range work {
				code, _ := post(t, url, authz, e)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	total := n * rounds
	require.Equal(t, total, codes[http.StatusAccepted], "every event accepted")
	// The Broker answers when it has the event: the rate is the
	// updater's, so count until it has handled them all.
	eventually(t, 10*time.Minute, "the updater handled every event", func(context.Context) (bool, error) {
		return updaterEvents(t)-before >= float64(total), nil
	})
	took := time.Since(start)
	fmt.Printf("\nbench-e2e updater (%s profile, %s): %d authenticated events (%d claims x %d new statuses, %d senders) in %s = %.0f events/s; answers %v\n",
		profileName(), via, total, n, rounds, senders, took.Round(time.Millisecond), float64(total)/took.Seconds(), codes)
	if knativeProfile() {
		return // the Broker may deliver a claim's statuses in any order
	}
	c, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claims[0].Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(rounds), c.Annotations[annotations.PodRestarts], "every status was written")
}

// importClaimWithout is a claim that asks for nothing: the updater's
// benchmark writes its status without any import running.
func importClaimWithout(name string) *corev1.PersistentVolumeClaim {
	c := importClaim(name, "64Mi", "")
	delete(c.Annotations, annotations.Endpoint)
	return c
}

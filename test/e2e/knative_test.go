//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// envProfile selects the profile the e2e suites deploy (hack/deploy.sh):
// plain (the routing table) or knative (config/knative/, a Broker).
const envProfile = "CDI_PROFILE"

// profileName is the profile the suites run in.
func profileName() string {
	if knativeProfile() {
		return "knative"
	}
	return "plain"
}

// knativeProfile reports whether the suites run through a Knative Broker.
func knativeProfile() bool { return os.Getenv(envProfile) == "knative" }

var (
	brokers  = schema.GroupVersionResource{Group: "eventing.knative.dev", Version: "v1", Resource: "brokers"}
	triggers = schema.GroupVersionResource{Group: "eventing.knative.dev", Version: "v1", Resource: "triggers"}
)

// TestKnative runs the import, upload and clone suites with every event
// going through a Knative Broker (make knative-up, then make e2e-knative):
// the event source and the data pods send to the Broker, Triggers deliver
// to the functions, an external request goes through the Broker's
// ingress; then the attacker's moves against that ingress, and an import
// while the updater is down.
func TestKnative(t *testing.T) {
	if !knativeProfile() {
		t.Skipf("%s=knative (make e2e-knative) runs the suites through a Knative Broker", envProfile)
	}
	deploy(t)
	t.Run("ProfileIsWired", testKnativeWiring)
	im := makeImages(t)
	srv := serve(t, sourcetest.Config{Data: im.file(t, "disk.qcow2.xz")})
	imageURL := srv.URL + "/disk.qcow2.xz"
	waitUploadComponents(t)
	uim := makeUploadImages(t)
	proxy := uploadProxyURL(t)
	waitCloneComponents(t)
	t.Run("parallel", func(t *testing.T) {
		t.Run("imports", func(t *testing.T) { importScenarios(t, im) })
		t.Run("uploads", func(t *testing.T) { uploadGroup(t, uim, proxy) })
		t.Run("clones", func(t *testing.T) { cloneScenarios(t, im, imageURL) })
	})
	t.Run("ForgedEventsAtTheBrokerIngress", func(t *testing.T) { testForgedAtBroker(t, im) })
	t.Run("FinalPhaseWhileTheUpdaterIsDown", func(t *testing.T) { testUpdaterDownThroughBroker(t, imageURL, im.raw) })
}

// testUpdaterDownThroughBroker: with the updater (every phase's consumer,
// and the dead-letter sink) scaled to zero, an import still ends: its data
// pod gives up on reports the Broker holds (datamover --event-timeout)
// and exits; the claim stays unfinished, and once the updater is back the
// event source's report of the pod's status finishes it.
func testUpdaterDownThroughBroker(t *testing.T, imageURL string, want []byte) {
	ctx := context.Background()
	scale := func(n int32) {
		s, err := e2e.client.AppsV1().Deployments("cdi").GetScale(ctx, "cdi-updater", metav1.GetOptions{})
		require.NoError(t, err)
		s.Spec.Replicas = n
		_, err = e2e.client.AppsV1().Deployments("cdi").UpdateScale(ctx, "cdi-updater", s, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	scale(0)
	t.Cleanup(func() { scale(1) })
	eventually(t, time.Minute, "no updater pod", func(ctx context.Context) (bool, error) {
		pods, err := e2e.client.CoreV1().Pods("cdi").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=updater"})
		return err == nil && len(pods.Items) == 0, err
	})
	ns := restrictedNamespace(t)
	createClaim(t, ns, importClaim("offline", "64Mi", imageURL))
	start := time.Now()
	eventually(t, 4*time.Minute, "the data pod to end though nobody takes its reports", func(ctx context.Context) (bool, error) {
		pods, err := e2e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		return pods.Items[0].Status.Phase == corev1.PodSucceeded, nil
	})
	c, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "offline", metav1.GetOptions{})
	require.NoError(t, err)
	assert.False(t, annotations.Final(c.Annotations[annotations.PodPhase]), "nobody wrote the final phase yet: %v", c.Annotations)
	t.Logf("data pod Succeeded %s after the claim, with nobody taking its reports", time.Since(start).Round(time.Second))
	back := time.Now()
	scale(1)
	requireSucceeded(t, waitFinal(t, ns, "offline"), want)
	t.Logf("claim Succeeded %s after the updater was scaled back", time.Since(back).Round(time.Second))
}

// broker is the system's Broker: its address as the host reaches it (the
// ingress Service's ClusterIP) and the audience of the tokens it takes.
type broker struct {
	url      string
	audience string
}

// systemBroker reads the Broker of config/knative/ and checks it is Ready.
func systemBroker(t *testing.T) broker {
	t.Helper()
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(e2e.config)
	require.NoError(t, err)
	b, err := dyn.Resource(brokers).Namespace("cdi").Get(ctx, "default", metav1.GetOptions{})
	require.NoError(t, err, "the Broker cdi/default (CDI_PROFILE=knative make deploy)")
	addr, _, _ := unstructured.NestedString(b.Object, "status", "address", "url")
	aud, _, _ := unstructured.NestedString(b.Object, "status", "address", "audience")
	u, err := url.Parse(addr)
	require.NoError(t, err, "the Broker's address %q", addr)
	svc, err := e2e.client.CoreV1().Services("knative-eventing").Get(ctx, "broker-ingress", metav1.GetOptions{})
	require.NoError(t, err)
	u.Host = svc.Spec.ClusterIP
	return broker{url: u.String(), audience: aud}
}

// send posts e to the Broker's ingress with brokerToken (none when empty)
// in the Authorization header; e carries its own authtoken, if any. The
// in-memory channel delivers synchronously, so the answer waits for the
// subscriber, its retries and the dead-letter sink: up to about a minute.
func (b broker) send(t *testing.T, brokerToken string, e cloudevents.Event) (int, string) {
	t.Helper()
	return postWithin(t, 3*time.Minute, b.url, brokerToken, e)
}

// sendAll sends every event at once (each may take the Broker's whole
// retry schedule) and returns the answers in order.
func (b broker) sendAll(t *testing.T, tokens []string, evs []cloudevents.Event) []int {
	t.Helper()
	codes := make([]int, len(evs))
	var wg sync.WaitGroup
	for i := range evs {
		wg.Go(func() { codes[i], _ = b.send(t, tokens[i], evs[i]) })
	}
	wg.Wait()
	return codes
}

// delivered: the Broker took the event (its authentication passed). With
// the in-memory channel the ingress answers 500 when the subscriber and
// then the dead-letter sink refused it, as the functions refuse forgeries.
func delivered(code int) bool {
	return code == http.StatusAccepted || code == http.StatusInternalServerError
}

// testKnativeWiring: the Broker runs with OIDC, every component got K_SINK
// (the Broker) and the Broker's token from the SinkBinding, and nothing
// routes through the routing table.
func testKnativeWiring(t *testing.T) {
	b := systemBroker(t)
	assert.NotEmpty(t, b.audience, "the Broker has an OIDC audience (make knative-up turns OIDC on)")
	ctx := context.Background()
	for _, name := range []string{"cdi-eventsource", "cdi-importer", "cdi-uploader", "cdi-cloner", "cdi-requester", "cdi-updater"} {
		d, err := e2e.client.AppsV1().Deployments("cdi").Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		env := map[string]string{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		assert.Equal(t, "http://broker-ingress.knative-eventing.svc.cluster.local/cdi/default", env[events.SinkEnv], "%s: K_SINK", name)
		var mounted bool
		for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
			mounted = mounted || m.MountPath == "/oidc"
		}
		assert.True(t, mounted, "%s: the SinkBinding's OIDC token at %s", name, auth.SinkTokenFile)
	}
	code, msg := b.send(t, "", phaseEvent(t, events.Claim{Namespace: "x", Name: "y", UID: "z"}, events.Pod{Name: "p", UID: "u"}))
	assert.Equal(t, http.StatusUnauthorized, code, "the Broker's ingress refuses an anonymous sender: %s", msg)
}

// phaseEvent is a forged "Succeeded" phase of pod for claim.
func phaseEvent(t *testing.T, claim events.Claim, pod events.Pod) cloudevents.Event {
	t.Helper()
	e, err := events.NewDataPodPhase(events.DataPodPhasePayload{Claim: claim, Pod: pod, Phase: events.PodSucceeded,
		Reason: reason.ImportSucceeded, Message: "forged"}, time.Now())
	require.NoError(t, err)
	return e
}

// replyTrigger subscribes the Service name of ns to the replies whose
// request id starts with prefix, as the requesting system's Trigger would.
func replyTrigger(t *testing.T, ns, name, prefix string) {
	t.Helper()
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(e2e.config)
	require.NoError(t, err)
	tr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
		"metadata": map[string]any{"name": "replies-" + ns, "namespace": "cdi"},
		"spec": map[string]any{
			"broker": "default",
			"filters": []any{
				map[string]any{"prefix": map[string]any{"type": "com.github.cdi-functions.volume."}},
				map[string]any{"not": map[string]any{"exact": map[string]any{"type": events.VolumeRequested}}},
				map[string]any{"prefix": map[string]any{events.ExtensionRequestID: prefix}},
			},
			"subscriber": map[string]any{"uri": fmt.Sprintf("http://%s.%s.svc.cluster.local/", name, ns)},
		},
	}}
	_, err = dyn.Resource(triggers).Namespace("cdi").Create(ctx, tr, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = dyn.Resource(triggers).Namespace("cdi").Delete(context.Background(), "replies-"+ns, metav1.DeleteOptions{})
	})
	eventually(t, 2*time.Minute, "the Trigger cdi/replies-"+ns+" Ready", func(ctx context.Context) (bool, error) {
		got, err := dyn.Resource(triggers).Namespace("cdi").Get(ctx, "replies-"+ns, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Ready" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
}

// testExternalRequestsThroughBroker is testExternalRequests with the
// requests sent to the Broker's ingress, as an external system behind
// Knative does: the Broker's token in the Authorization header, the
// sender's own (audience cdi-functions) in the event. The Broker answers
// 202 to any ServiceAccount; what the requester decides comes back as
// reply events through a Trigger on the request id.
func testExternalRequestsThroughBroker(t *testing.T, im *images, imageURL string) {
	t.Parallel()
	b := systemBroker(t)
	ns := uploadNamespace(t)
	golden := uploadNamespace(t)
	importGolden(t, golden, "golden", "64Mi", imageURL, im.raw)

	pipeline := serviceAccountUser(t, ns, "pipeline")
	bind(t, ns, pipeline, "ClusterRole", "edit")
	bind(t, golden, pipeline, "ClusterRole", "cdi.kubevirt.io:clone-sourcer")
	token := serviceAccountToken(t, ns, "pipeline", auth.Audience)
	brokerToken := serviceAccountToken(t, ns, "pipeline", b.audience)
	outsiders := uploadNamespace(t)
	outsider := serviceAccountToken(t, outsiders, "default", auth.Audience)
	outsiderAtBroker := serviceAccountToken(t, outsiders, "default", b.audience)

	replies := replyReceiver(t, ns, "ci-events")
	id := func(s string) string { return ns + "." + s }
	replyTrigger(t, ns, "ci-events", ns+".")
	req := func(name string, p events.VolumeRequestedPayload, tok string) cloudevents.Event {
		e, err := events.NewVolumeRequested(id(name), "/e2e/pipeline", p, time.Now())
		require.NoError(t, err)
		if tok != "" {
			e = withToken(e, tok)
		}
		return e
	}
	imp := events.VolumeRequestedPayload{Claim: events.ClaimRef{Namespace: ns, Name: "disk"}, Size: "64Mi",
		Source: events.VolumeSource{Import: &events.ImportSource{Endpoint: imageURL}}}
	clone := events.VolumeRequestedPayload{Claim: events.ClaimRef{Namespace: ns, Name: "copy"}, Size: "64Mi",
		Source: events.VolumeSource{Clone: &annotations.CloneSource{Namespace: golden, Name: "golden"}}}
	bigger := imp
	bigger.Size = "128Mi"
	invalid := events.VolumeRequestedPayload{Claim: events.ClaimRef{Namespace: ns, Name: "Not_A_Name"}, Size: "lots",
		Source: events.VolumeSource{Import: &events.ImportSource{Endpoint: "file:///etc/shadow"}}}
	stolen := imp
	stolen.Claim.Name = "stolen"

	// The first two in order (the second finds the claim of the first),
	// then everything else at once.
	code, msg := b.send(t, brokerToken, req("build-1", imp, token))
	require.Equal(t, http.StatusAccepted, code, "an import: %s", msg)
	code, msg = b.send(t, brokerToken, req("build-1", imp, token))
	require.Equal(t, http.StatusAccepted, code, "the same request again: %s", msg)
	tests := []struct {
		name        string
		brokerToken string
		event       cloudevents.Event
		want        func(int) bool
	}{
		{"a clone", brokerToken, req("build-2", clone, token), func(c int) bool { return c == http.StatusAccepted }},
		{"the same id asking something else", brokerToken, req("build-1", bigger, token), delivered},
		{"another request for a taken claim", brokerToken, req("build-3", imp, token), delivered},
		{"an invalid request", brokerToken, req("build-4", invalid, token), delivered},
		{"anonymous at the Broker", "", req("evil-1", stolen, token), func(c int) bool { return c == http.StatusUnauthorized }},
		{"the sender's own token at the Broker", token, req("evil-2", stolen, token), func(c int) bool { return c == http.StatusUnauthorized }},
		{"the Broker's token alone", brokerToken, req("evil-3", stolen, ""), delivered},
		{"a ServiceAccount of another namespace", outsiderAtBroker, req("evil-4", stolen, outsider), delivered},
	}
	var toks []string
	var evs []cloudevents.Event
	for _, tt := range tests {
		toks, evs = append(toks, tt.brokerToken), append(evs, tt.event)
	}
	for i, code := range b.sendAll(t, toks, evs) {
		assert.True(t, tests[i].want(code), "%s: HTTP %d", tests[i].name, code)
	}

	requireSucceeded(t, waitFinal(t, ns, "disk"), im.raw)
	requireCloned(t, ns, "copy", im.raw)
	eventually(t, 2*time.Minute, "the replies", func(context.Context) (bool, error) {
		return replies.count(events.VolumeSucceeded, id("build-1")) >= 1 && replies.count(events.VolumeSucceeded, id("build-2")) >= 1 &&
			replies.count(events.VolumeAccepted, id("build-1")) >= 2 && replies.count(events.VolumeRejected, id("build-1")) >= 1 &&
			replies.count(events.VolumeRejected, id("build-3")) >= 1 && replies.count(events.VolumeRejected, id("build-4")) >= 1 &&
			replies.count(events.VolumeRejected, id("evil-4")) >= 1, nil
	})
	disk := requireRequestedClaims(t, ns, outsiders, pipeline)

	status := func(typ, name string) int { return replies.get(typ, id(name)).Status }
	assert.Equal(t, http.StatusConflict, status(events.VolumeRejected, "build-1"))
	assert.Equal(t, http.StatusConflict, status(events.VolumeRejected, "build-3"))
	assert.Equal(t, http.StatusBadRequest, status(events.VolumeRejected, "build-4"))
	assert.Contains(t, strings.Join(replies.get(events.VolumeRejected, id("build-4")).Errors, "\n"), "size:", "every reason, in the reply")
	assert.Equal(t, http.StatusForbidden, status(events.VolumeRejected, "evil-4"),
		"a refused sender's rejection goes to the Broker (never to a URL it names)")
	for _, evil := range []string{"evil-1", "evil-2", "evil-3"} {
		assert.Zero(t, replies.count(events.VolumeRejected, id(evil))+replies.count(events.VolumeAccepted, id(evil)),
			"%s: an unauthenticated request gets no reply", evil)
	}
	succeeded := replies.get(events.VolumeSucceeded, id("build-1"))
	assert.Equal(t, string(disk.UID), succeeded.Claim.UID)
	assert.Equal(t, "ImportSucceeded", succeeded.Reason)
	assert.Equal(t, 1, replies.distinctIDs(events.VolumeAccepted, id("build-1")),
		"a request that came again is accepted again under the same reply id")
}

// testForgedAtBroker plays the attacker at the Broker's ingress against
// an import running in a victim namespace. Any ServiceAccount may send to
// the Broker (config/knative/110-eventpolicy.yaml), so the Broker takes
// the forgeries (202), and the functions behind it refuse every one; a
// token for cdi-functions itself (the victim's data pod's, stolen) is no
// ticket into the Broker. Nothing changes and the import ends Succeeded
// with its one data pod.
func testForgedAtBroker(t *testing.T, im *images) {
	ctx := context.Background()
	b := systemBroker(t)
	victims := restrictedNamespace(t)
	attackers := newNamespace(t)
	src := slowServer(t, im.raw, 2<<20)
	uids := watchDataPods(t, victims)
	createClaim(t, victims, importClaim("victim", "64Mi", src))
	victimPod := waitDataPodRunning(t, victims, "victim")
	victim, err := e2e.client.CoreV1().PersistentVolumeClaims(victims).Get(ctx, "victim", metav1.GetOptions{})
	require.NoError(t, err)
	waitForServiceAccount(t, attackers)
	attacker := serviceAccountToken(t, attackers, "default", b.audience)
	attackerOwn := serviceAccountToken(t, attackers, "default", auth.Audience)
	stolen := podToken(t, victimPod, auth.Audience)

	claim := events.Claim{Namespace: victims, Name: "victim", UID: string(victim.UID)}
	pod := events.Pod{Name: victimPod.Name, UID: string(victimPod.UID)}
	deleting, err := events.NewClaimDeleting(events.ClaimDeletingPayload{Claim: claim, Pods: []events.Pod{pod}}, time.Now())
	require.NoError(t, err)
	request, err := events.NewImportRequested(events.ImportRequestedPayload{Claim: claim,
		Request: annotations.ImportRequest{Endpoint: "http://attacker.example/evil.img"}}, time.Now())
	require.NoError(t, err)

	refusedBefore := functionRefusals(t)
	tests := []struct {
		name        string
		brokerToken string
		event       cloudevents.Event
		atIngress   bool // refused by the Broker itself
	}{
		{"no token at all", "", phaseEvent(t, claim, pod), true},
		{"the victim's stolen data pod token as the Broker's", stolen, phaseEvent(t, claim, pod), true},
		{"the attacker at the Broker, no token inside", attacker, phaseEvent(t, claim, pod), false},
		{"the attacker's own token inside", attacker, withToken(phaseEvent(t, claim, pod), attackerOwn), false},
		{"a token for the Broker inside", attacker, withToken(phaseEvent(t, claim, pod), attacker), false},
		{"a deletion from the attacker", attacker, withToken(deleting, attackerOwn), false},
		{"an import request from the attacker", attacker, withToken(request, attackerOwn), false},
	}
	var toks []string
	var evs []cloudevents.Event
	for _, tt := range tests {
		toks, evs = append(toks, tt.brokerToken), append(evs, tt.event)
	}
	passed := 0
	for i, code := range b.sendAll(t, toks, evs) {
		if tests[i].atIngress {
			assert.Equal(t, http.StatusUnauthorized, code, "%s: refused at the ingress", tests[i].name)
			continue
		}
		assert.True(t, delivered(code), "%s: the Broker takes it (HTTP %d); the functions refuse it", tests[i].name, code)
		passed++
	}
	eventually(t, 2*time.Minute, "the functions refused every forgery the Broker delivered", func(context.Context) (bool, error) {
		return functionRefusals(t)-refusedBefore >= float64(passed), nil
	})

	c, err := e2e.client.CoreV1().PersistentVolumeClaims(victims).Get(ctx, "victim", metav1.GetOptions{})
	require.NoError(t, err)
	assert.False(t, annotations.Final(c.Annotations[annotations.PodPhase]), "no forged event finished the import: %v", c.Annotations)
	requireSucceeded(t, waitFinal(t, victims, "victim"), im.raw)
	assert.Len(t, uids(), 1, "the import kept its one data pod")
	assert.Empty(t, eventsWithMessage(t, victims, "forged"), "no forged message reached the claim")
}

// functionRefusals sums, over the updater, importer and requester pods,
// the requests whose sender was not authenticated or not allowed.
func functionRefusals(t *testing.T) float64 {
	t.Helper()
	var sum float64
	for _, component := range []string{"updater", "importer", "requester"} {
		sum += componentMetric(t, component, "cdi_function_auth_total{", func(line string) bool {
			return !strings.Contains(line, `outcome="authenticated"`)
		})
	}
	return sum
}

// componentMetric sums the samples of the metric lines starting with
// prefix that keep accepts, over the pods of component.
func componentMetric(t *testing.T, component, prefix string, keep func(string) bool) float64 {
	t.Helper()
	ctx := context.Background()
	pods, err := e2e.client.CoreV1().Pods("cdi").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=" + component})
	require.NoError(t, err)
	var sum float64
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			continue
		}
		b, err := e2e.client.CoreV1().Pods("cdi").ProxyGet("http", p.Name, "9090", "/metrics", nil).DoRaw(ctx)
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, prefix) && keep(line) {
				var v float64
				fields := strings.Fields(line)
				_, _ = fmt.Sscan(fields[len(fields)-1], &v)
				sum += v
			}
		}
	}
	return sum
}

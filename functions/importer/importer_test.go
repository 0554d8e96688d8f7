package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
)

const ns = "default"

var testTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// claim builds a 10Gi claim "name" in ns, uid "uid-<name>", asking to
// import http://images.example/disk.img unless opts say otherwise.
func claim(name string, opts ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: types.UID("uid-" + name),
			Annotations: map[string]string{annotations.Endpoint: "http://images.example/disk.img"},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			},
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func withAnnotation(k, v string) func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) { c.Annotations[k] = v }
}

func withEndpoint(u string) func(*corev1.PersistentVolumeClaim) {
	return withAnnotation(annotations.Endpoint, u)
}

func withSecret(s string) func(*corev1.PersistentVolumeClaim) {
	return withAnnotation(annotations.SecretName, s)
}

func withCerts(cm string) func(*corev1.PersistentVolumeClaim) {
	return withAnnotation(annotations.CertConfigMap, cm)
}

func withPhase(p string) func(*corev1.PersistentVolumeClaim) {
	return withAnnotation(annotations.PodPhase, p)
}

func withUID(uid string) func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) { c.UID = types.UID(uid) }
}

func withoutImport() func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) { delete(c.Annotations, annotations.Endpoint) }
}

func withDeletion() func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) {
		c.DeletionTimestamp = &metav1.Time{Time: testTime}
		c.Finalizers = []string{"kubernetes.io/pvc-protection"}
	}
}

func withBlock() func(*corev1.PersistentVolumeClaim) {
	return func(c *corev1.PersistentVolumeClaim) {
		m := corev1.PersistentVolumeBlock
		c.Spec.VolumeMode = &m
	}
}

// requested is the ImportRequested event the event source sends for c as
// it is now, changed by opts.
func requested(t *testing.T, c *corev1.PersistentVolumeClaim, opts ...func(*events.ImportRequestedPayload)) cloudevents.Event {
	t.Helper()
	req, ok := annotations.ImportRequestOf(c.Annotations)
	require.True(t, ok, "the claim asks for an import")
	p := events.ImportRequestedPayload{
		Claim:   events.Claim{Namespace: c.Namespace, Name: c.Name, UID: string(c.UID)},
		Request: req,
	}
	for _, o := range opts {
		o(&p)
	}
	e, err := events.NewImportRequested(p, testTime)
	require.NoError(t, err)
	return e
}

func secret(name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Data: map[string][]byte{"accessKeyId": []byte("user"), "secretKey": []byte("pass")}}
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Data: map[string]string{"ca.pem": "-----BEGIN CERTIFICATE-----"}}
}

// dataPod is the data pod the importer makes for c.
func dataPod(c *corev1.PersistentVolumeClaim) *corev1.Pod {
	req, _ := annotations.ImportRequestOf(c.Annotations)
	return datapod.ImportPod(c, req, testConfig)
}

var testConfig = datapod.Config{Image: "datamover:test", Sink: "http://cdi-updater.cdi.svc.cluster.local", PullPolicy: corev1.PullIfNotPresent}

// fail makes verb on resource answer err.
func fail(verb, resource string, err error) func(*fake.Clientset) {
	return func(k *fake.Clientset) {
		k.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
	}
}

// fixture is an importer on a fake clientset behind the real function
// server, so tests see the HTTP answer a Broker would see.
type fixture struct {
	kube     *fake.Clientset
	importer *Importer
	url      string
	// reported are the refusals sent to the updater.
	reported []events.DataPodPhasePayload
}

func newFixture(t *testing.T, objects []runtime.Object, reactors ...func(*fake.Clientset)) *fixture {
	t.Helper()
	kube := fake.NewClientset(objects...)
	for _, r := range reactors {
		r(kube)
	}
	reg := prometheus.NewRegistry()
	f := &fixture{kube: kube}
	report := func(_ context.Context, p events.DataPodPhasePayload) error {
		f.reported = append(f.reported, p)
		return nil
	}
	imp, err := newImporter(kube, testConfig, &recorder{kube: kube, instance: "cdi-importer-0", now: func() time.Time { return testTime }}, report, reg)
	require.NoError(t, err)
	h, err := function.NewServer("importer", imp.Handle, reg, zap.NewNop().Sugar()).Handler(context.Background())
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.importer, f.url = imp, srv.URL
	return f
}

// send delivers e and returns the HTTP status of the answer.
func (f *fixture) send(t *testing.T, e cloudevents.Event) int {
	t.Helper()
	c, err := cloudevents.NewClientHTTP()
	require.NoError(t, err)
	res := c.Send(cloudevents.ContextWithTarget(context.Background(), f.url), e)
	var httpRes *cehttp.Result
	require.True(t, cloudevents.ResultAs(res, &httpRes), "an HTTP answer: %v", res)
	return httpRes.StatusCode
}

func (f *fixture) pods(t *testing.T) []corev1.Pod {
	t.Helper()
	l, err := f.kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	return l.Items
}

func (f *fixture) events(t *testing.T) []corev1.Event {
	t.Helper()
	l, err := f.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	return l.Items
}

func TestHandle(t *testing.T) {
	golden := claim("golden-pvc")
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "importer-golden-pvc",
		errors.New(`violates PodSecurity "baseline:latest": privileged`))
	tests := []struct {
		name     string
		objects  []runtime.Object
		reactors []func(*fake.Clientset)
		event    cloudevents.Event
		wantCode int
		// wantPodFor is the claim whose data pod must exist afterwards
		// (then it must be the only pod), nil for no pod.
		wantPodFor *corev1.PersistentVolumeClaim
		// wantPods counts pods when wantPodFor is nil.
		wantPods    int
		wantEvent   string // reason of the one Warning Event on the claim
		wantOutcome string
	}{
		{
			name:    "seed claim gets its data pod",
			objects: []runtime.Object{golden}, event: requested(t, golden),
			wantCode: http.StatusAccepted, wantPodFor: golden, wantOutcome: outcomeCreated,
		},
		{
			name:    "block claim",
			objects: []runtime.Object{claim("blk", withBlock())}, event: requested(t, claim("blk", withBlock())),
			wantCode: http.StatusAccepted, wantPodFor: claim("blk", withBlock()), wantOutcome: outcomeCreated,
		},
		{
			name:     "secret and CA config map present",
			objects:  []runtime.Object{claim("c", withSecret("s"), withCerts("ca")), secret("s"), configMap("ca")},
			event:    requested(t, claim("c", withSecret("s"), withCerts("ca"))),
			wantCode: http.StatusAccepted, wantPodFor: claim("c", withSecret("s"), withCerts("ca")), wantOutcome: outcomeCreated,
		},
		{
			name:     "s3 with the claim's own endpoint",
			objects:  []runtime.Object{claim("c", withEndpoint("s3://images/disk.img"), withAnnotation(annotations.S3Endpoint, "http://minio.store:9000"))},
			event:    requested(t, claim("c", withEndpoint("s3://images/disk.img"), withAnnotation(annotations.S3Endpoint, "http://minio.store:9000"))),
			wantCode: http.StatusAccepted, wantOutcome: outcomeCreated,
			wantPodFor: claim("c", withEndpoint("s3://images/disk.img"), withAnnotation(annotations.S3Endpoint, "http://minio.store:9000")),
		},
		{
			name:     "S3 endpoint that is not a URL",
			objects:  []runtime.Object{claim("c", withEndpoint("s3://images/disk.img"), withAnnotation(annotations.S3Endpoint, "minio:9000"))},
			event:    requested(t, claim("c", withEndpoint("s3://images/disk.img"), withAnnotation(annotations.S3Endpoint, "minio:9000"))),
			wantCode: http.StatusBadRequest, wantEvent: ReasonInvalidRequest, wantOutcome: outcomeRejected,
		},
		{
			name:    "event without endpoint",
			objects: []runtime.Object{golden}, event: requested(t, golden, func(p *events.ImportRequestedPayload) { p.Request.Endpoint = "" }),
			wantCode: http.StatusBadRequest, wantOutcome: outcomeMalformed,
		},
		{
			name:    "missing secret",
			objects: []runtime.Object{claim("c", withSecret("s"))}, event: requested(t, claim("c", withSecret("s"))),
			wantCode: http.StatusBadRequest, wantEvent: ReasonMissingSecret, wantOutcome: outcomeRejected,
		},
		{
			name:    "missing CA config map",
			objects: []runtime.Object{claim("c", withCerts("ca"))}, event: requested(t, claim("c", withCerts("ca"))),
			wantCode: http.StatusBadRequest, wantEvent: ReasonMissingCertConfigMap, wantOutcome: outcomeRejected,
		},
		{
			name:    "secrets not readable: check skipped",
			objects: []runtime.Object{claim("c", withSecret("s"))}, event: requested(t, claim("c", withSecret("s"))),
			reactors: []func(*fake.Clientset){fail("get", "secrets", apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "s", errors.New("rbac")))},
			wantCode: http.StatusAccepted, wantPodFor: claim("c", withSecret("s")), wantOutcome: outcomeCreated,
		},
		{
			name:    "secret lookup fails: retried",
			objects: []runtime.Object{claim("c", withSecret("s"))}, event: requested(t, claim("c", withSecret("s"))),
			reactors: []func(*fake.Clientset){fail("get", "secrets", apierrors.NewServiceUnavailable("etcd"))},
			wantCode: http.StatusInternalServerError, wantOutcome: outcomeRetry,
		},
		{
			name:     "claim is gone",
			event:    requested(t, golden),
			wantCode: http.StatusAccepted, wantOutcome: outcomeObsolete,
		},
		{
			name:    "claim was re-created",
			objects: []runtime.Object{claim("golden-pvc", withUID("new"))}, event: requested(t, golden),
			wantCode: http.StatusAccepted, wantOutcome: outcomeObsolete,
		},
		{
			name:    "claim is being deleted",
			objects: []runtime.Object{claim("c", withDeletion())}, event: requested(t, claim("c")),
			wantCode: http.StatusAccepted, wantOutcome: outcomeObsolete,
		},
		{
			name:    "claim no longer asks for an import",
			objects: []runtime.Object{claim("c", withoutImport())}, event: requested(t, claim("c")),
			wantCode: http.StatusAccepted, wantOutcome: outcomeObsolete,
		},
		{
			name:    "claim asks for another URL now",
			objects: []runtime.Object{claim("c", withEndpoint("http://images.example/other.img"))}, event: requested(t, claim("c")),
			wantCode: http.StatusAccepted, wantOutcome: outcomeObsolete,
		},
		{
			name:    "claim names a secret now",
			objects: []runtime.Object{claim("c", withSecret("s")), secret("s")}, event: requested(t, claim("c")),
			wantCode: http.StatusAccepted, wantOutcome: outcomeObsolete,
		},
		{
			name:    "import succeeded",
			objects: []runtime.Object{claim("c", withPhase("Succeeded"))}, event: requested(t, claim("c")),
			wantCode: http.StatusAccepted, wantOutcome: outcomeObsolete,
		},
		{
			name:    "import failed",
			objects: []runtime.Object{claim("c", withPhase("Failed"))}, event: requested(t, claim("c")),
			wantCode: http.StatusAccepted, wantOutcome: outcomeObsolete,
		},
		{
			name:    "import running (restarted importer): the pod is made again if missing",
			objects: []runtime.Object{claim("c", withPhase("Running"))}, event: requested(t, claim("c", withPhase("Running"))),
			wantCode: http.StatusAccepted, wantPodFor: claim("c"), wantOutcome: outcomeCreated,
		},
		{
			name:     "unsupported scheme",
			objects:  []runtime.Object{claim("c", withEndpoint("ftp://images.example/disk.img"))},
			event:    requested(t, claim("c", withEndpoint("ftp://images.example/disk.img"))),
			wantCode: http.StatusBadRequest, wantEvent: ReasonInvalidRequest, wantOutcome: outcomeRejected,
		},
		{
			name:     "unsupported content type",
			objects:  []runtime.Object{claim("c", withAnnotation(annotations.ContentType, "iso"))},
			event:    requested(t, claim("c", withAnnotation(annotations.ContentType, "iso"))),
			wantCode: http.StatusBadRequest, wantEvent: ReasonInvalidRequest, wantOutcome: outcomeRejected,
		},
		{
			name:    "event without claim uid",
			objects: []runtime.Object{golden}, event: requested(t, golden, func(p *events.ImportRequestedPayload) { p.Claim.UID = "" }),
			wantCode: http.StatusBadRequest, wantOutcome: outcomeMalformed,
		},
		{
			name:    "event without claim name",
			objects: []runtime.Object{golden}, event: requested(t, golden, func(p *events.ImportRequestedPayload) { p.Claim.Name = "" }),
			wantCode: http.StatusBadRequest, wantOutcome: outcomeMalformed,
		},
		{
			name:    "event of another type",
			objects: []runtime.Object{golden},
			event: func() cloudevents.Event {
				e := requested(t, golden)
				e.SetType(events.DataPodPhase)
				return e
			}(),
			wantCode: http.StatusBadRequest, wantOutcome: outcomeMalformed,
		},
		{
			name:    "event with a payload that is not JSON",
			objects: []runtime.Object{golden},
			event: func() cloudevents.Event {
				e := requested(t, golden)
				require.NoError(t, e.SetData("text/plain", []byte("not json")))
				return e
			}(),
			wantCode: http.StatusBadRequest, wantOutcome: outcomeMalformed,
		},
		{
			name:    "data pod exists already",
			objects: []runtime.Object{golden, dataPod(golden)}, event: requested(t, golden),
			wantCode: http.StatusAccepted, wantPodFor: golden, wantOutcome: outcomeExists,
		},
		{
			name:    "data pod of an earlier claim of that name is still there",
			objects: []runtime.Object{golden, dataPod(claim("golden-pvc", withUID("old")))}, event: requested(t, golden),
			wantCode: http.StatusInternalServerError, wantPods: 1, wantOutcome: outcomeRetry,
		},
		{
			name: "a pod that is not a data pod holds the name",
			objects: []runtime.Object{golden, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
				Name: "importer-golden-pvc", Namespace: ns, Labels: map[string]string{"app": "mine"}}}},
			event:    requested(t, golden),
			wantCode: http.StatusBadRequest, wantPods: 1, wantEvent: ReasonPodNameConflict, wantOutcome: outcomeRejected,
		},
		{
			name:    "claim lookup fails: retried",
			objects: []runtime.Object{golden}, event: requested(t, golden),
			reactors: []func(*fake.Clientset){fail("get", "persistentvolumeclaims", apierrors.NewTooManyRequests("slow down", 1))},
			wantCode: http.StatusInternalServerError, wantOutcome: outcomeRetry,
		},
		{
			name:    "pod security forbids the data pod",
			objects: []runtime.Object{golden}, event: requested(t, golden),
			reactors: []func(*fake.Clientset){fail("create", "pods", forbidden)},
			wantCode: http.StatusBadRequest, wantEvent: ReasonCreatePod, wantOutcome: outcomeRejected,
		},
		{
			name:    "pod creation fails: retried",
			objects: []runtime.Object{golden}, event: requested(t, golden),
			reactors: []func(*fake.Clientset){fail("create", "pods", apierrors.NewInternalError(errors.New("etcd timeout")))},
			wantCode: http.StatusInternalServerError, wantOutcome: outcomeRetry,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.objects, tt.reactors...)
			assert.Equal(t, tt.wantCode, f.send(t, tt.event), "HTTP answer")

			pods := f.pods(t)
			if tt.wantPodFor != nil {
				require.Len(t, pods, 1)
				want := dataPod(tt.wantPodFor)
				assert.Equal(t, want.Name, pods[0].Name)
				assert.Equal(t, want.Spec, pods[0].Spec, "the pod is datapod.ImportPod of the claim")
				assert.Equal(t, string(tt.wantPodFor.UID), pods[0].Labels[datapod.LabelClaimUID])
			} else {
				assert.Len(t, pods, tt.wantPods)
			}

			evs := f.events(t)
			if tt.wantEvent == "" {
				assert.Empty(t, evs, "no Kubernetes Event")
			} else {
				require.Len(t, evs, 1)
				assert.Equal(t, tt.wantEvent, evs[0].Reason)
				assert.Equal(t, corev1.EventTypeWarning, evs[0].Type)
				assert.Equal(t, "PersistentVolumeClaim", evs[0].InvolvedObject.Kind)
				assert.NotEmpty(t, evs[0].Message)
			}

			// A refusal is also reported to the updater: Failed when no
			// later event can fix it, Pending while it waits on the user.
			if tt.wantEvent == "" {
				assert.Empty(t, f.reported, "nothing reported to the updater")
			} else {
				require.Len(t, f.reported, 1)
				r := f.reported[0]
				assert.Equal(t, tt.wantEvent, r.Reason)
				assert.Equal(t, evs[0].Message, r.Message)
				if finalReasons[tt.wantEvent] {
					assert.Equal(t, events.PodFailed, r.Phase)
					assert.True(t, r.Permanent)
				} else {
					assert.Equal(t, events.PodPending, r.Phase)
					assert.False(t, r.Permanent)
				}
			}
			assert.Equal(t, 1.0, count(t, f.importer, (tt.wantOutcome)), "outcome %s counted", tt.wantOutcome)
		})
	}
}

// TestDuplicateEvents: events arrive at least once; a resend never makes a
// second pod and a repeated problem makes one Event with a count.
func TestDuplicateEvents(t *testing.T) {
	c := claim("golden-pvc")
	f := newFixture(t, []runtime.Object{c})
	e := requested(t, c)
	for range 3 {
		assert.Equal(t, http.StatusAccepted, f.send(t, e))
	}
	assert.Len(t, f.pods(t), 1)
	assert.Equal(t, 1.0, count(t, f.importer, (outcomeCreated)))
	assert.Equal(t, 2.0, count(t, f.importer, (outcomeExists)))

	s := claim("with-secret", withSecret("missing"))
	f = newFixture(t, []runtime.Object{s})
	for range 2 {
		assert.Equal(t, http.StatusBadRequest, f.send(t, requested(t, s)))
	}
	evs := f.events(t)
	require.Len(t, evs, 1, "one Event, counted")
	assert.Equal(t, int32(2), evs[0].Count)
	assert.Contains(t, evs[0].Message, "Secret default/missing does not exist")

	// Once the Secret exists, the next send of the same request proceeds.
	_, err := f.kube.CoreV1().Secrets(ns).Create(context.Background(), secret("missing"), metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, f.send(t, requested(t, s)))
	assert.Len(t, f.pods(t), 1)
}

// TestRecreatedClaim: a claim deleted and created again under the same name
// is a new claim: old events do nothing, its own event waits for the old
// pod to go, then gets a pod of its own.
func TestRecreatedClaim(t *testing.T) {
	old := claim("vm-disk", withUID("old"))
	current := claim("vm-disk", withUID("new"))
	f := newFixture(t, []runtime.Object{current, dataPod(old)})

	assert.Equal(t, http.StatusAccepted, f.send(t, requested(t, old)), "the old claim's event is obsolete")
	assert.Equal(t, http.StatusInternalServerError, f.send(t, requested(t, current)), "retried while the old pod exists")

	require.NoError(t, f.kube.CoreV1().Pods(ns).Delete(context.Background(), "importer-vm-disk", metav1.DeleteOptions{}))
	assert.Equal(t, http.StatusAccepted, f.send(t, requested(t, current)))
	pods := f.pods(t)
	require.Len(t, pods, 1)
	assert.Equal(t, "new", pods[0].Labels[datapod.LabelClaimUID])
	assert.Equal(t, types.UID("new"), pods[0].OwnerReferences[0].UID)
}

// count reads the importer's counter of outcome.
func count(t *testing.T, imp *Importer, outcome string) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, imp.outcomes.WithLabelValues(outcome).Write(&m))
	return m.GetCounter().GetValue()
}

func TestEventName(t *testing.T) {
	long := claim(strings.Repeat("n", 253))
	a := eventName(claim("c"), ReasonMissingSecret, "m1")
	assert.Equal(t, a, eventName(claim("c"), ReasonMissingSecret, "m1"), "deterministic")
	assert.NotEqual(t, a, eventName(claim("c"), ReasonMissingSecret, "m2"))
	assert.NotEqual(t, a, eventName(claim("c", withUID("other")), ReasonMissingSecret, "m1"))
	assert.LessOrEqual(t, len(eventName(long, ReasonInvalidRequest, "m")), 253)
}

// TestRefusalReportFailsRetries: when the refusal cannot be reported to the
// updater, the event is answered 5xx so that it is sent again.
func TestRefusalReportFailsRetries(t *testing.T) {
	bad := claim("c", withEndpoint("ftp://host/disk.img"))
	f := newFixture(t, []runtime.Object{bad})
	f.importer.status = func(context.Context, events.DataPodPhasePayload) error { return errors.New("updater down") }
	assert.Equal(t, http.StatusInternalServerError, f.send(t, requested(t, bad)))
}

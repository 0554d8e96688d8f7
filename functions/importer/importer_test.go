package main

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cdi-functions/cdi-functions/internal/functest"
	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/internal/kubetest"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/record"
)

const ns = gen.Namespace

var testTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// The senders the tests use: the event source, and others.
const (
	eventSourceToken = "event-source-token"
	dataPodToken     = "data-pod-token"
	eventSourceUser  = "system:serviceaccount:cdi:cdi-eventsource"
)

var tokens = functest.Tokens{
	eventSourceToken: {Username: eventSourceUser, ServiceAccount: &auth.ServiceAccount{Namespace: "cdi", Name: "cdi-eventsource"}},
	dataPodToken: {Username: "system:serviceaccount:default:default", ServiceAccount: &auth.ServiceAccount{Namespace: "default", Name: "default"},
		Pod: &auth.Pod{Name: "importer-golden-pvc", UID: "pod-uid-golden-pvc"}},
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

// dataPod is the data pod the importer makes for c.
func dataPod(c *corev1.PersistentVolumeClaim) *corev1.Pod {
	req, _ := annotations.ImportRequestOf(c.Annotations)
	return datapod.ImportPod(c, req, testConfig)
}

var testConfig = datapod.Config{Image: "datamover:test", Sink: "http://cdi-updater.cdi.svc.cluster.local", PullPolicy: corev1.PullIfNotPresent,
	EgressDeny: "10.96.0.0/12, 10.244.0.0/16", EgressAllow: "10.96.0.80"}

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
	srv      *functest.Server
	// reported are the refusals sent to the updater.
	reported []events.DataPodPhasePayload
}

func newFixture(t *testing.T, objects []runtime.Object, reactors ...func(*fake.Clientset)) *fixture {
	t.Helper()
	kube := fake.NewClientset(objects...)
	for _, r := range reactors {
		r(kube)
	}
	f := &fixture{kube: kube}
	report := func(_ context.Context, p events.DataPodPhasePayload) error {
		f.reported = append(f.reported, p)
		return nil
	}
	meter := functest.NewMeter()
	rec := record.New(kube, "cdi-importer", "cdi-functions.io/importer", "cdi-importer-0", func() time.Time { return testTime })
	pol, err := datapod.EgressPolicy(testConfig.EgressDeny, testConfig.EgressAllow)
	require.NoError(t, err)
	imp, err := newImporter(kube, testConfig, eventSourceUser, validator(pol), rec, report, meter)
	require.NoError(t, err)
	f.importer = imp
	f.srv = functest.Serve(t, "importer", imp.Handle, tokens, meter)
	return f
}

// send delivers e as the event source and returns the HTTP status.
func (f *fixture) send(t *testing.T, e cloudevents.Event) int {
	t.Helper()
	code, _ := f.srv.Send(t, eventSourceToken, e)
	return code
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

func (f *fixture) outcome(t *testing.T, outcome string) int64 {
	t.Helper()
	return f.srv.Meter.Count(t, "cdi.importer.events", attribute.String("outcome", outcome))
}

// Actions the importer makes, for kubetest.Expect.
func getClaim(name string) string     { return "get persistentvolumeclaims " + ns + "/" + name }
func createPod(claim string) string   { return "create pods " + ns + "/" + datapod.ImportPodName(claim) }
func getPod(claim string) string      { return "get pods " + ns + "/" + datapod.ImportPodName(claim) }
func getSecret(name string) string    { return "get secrets " + ns + "/" + name }
func getConfigMap(name string) string { return "get configmaps " + ns + "/" + name }
func recordOn(claim string) string    { return "create events " + ns + "/" + claim + ".*" }

func TestHandle(t *testing.T) {
	golden := gen.ImportClaim("golden-pvc")
	withSecrets := gen.ImportClaim("c", gen.WithSecret("s"), gen.WithCertConfigMap("ca"))
	s3 := gen.ImportClaim("c", gen.WithEndpoint("s3://images/disk.img"), gen.WithAnnotation(annotations.S3Endpoint, "http://minio.store:9000"))
	quota := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "importer-golden-pvc",
		errors.New(`exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1`))
	invalid := apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "importer-golden-pvc", nil)
	tests := []struct {
		name     string
		objects  []runtime.Object
		reactors []func(*fake.Clientset)
		event    cloudevents.Event
		wantCode int
		// wantActions are every API action, in order.
		wantActions []string
		// wantPodFor is the claim whose data pod must exist afterwards.
		wantPodFor *corev1.PersistentVolumeClaim
		// wantReason is the reason of the one Warning Event on the claim
		// and of the report to the updater.
		wantReason string
		// wantMessage is the Event's message, if the test checks it.
		wantMessage string
		wantOutcome string
	}{
		{
			name:    "seed claim gets its data pod",
			objects: []runtime.Object{golden}, event: requested(t, golden),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("golden-pvc"), createPod("golden-pvc")},
			wantPodFor: golden, wantOutcome: function.OutcomeCreated,
		},
		{
			name:    "block claim",
			objects: []runtime.Object{gen.ImportClaim("blk", gen.WithBlock())}, event: requested(t, gen.ImportClaim("blk", gen.WithBlock())),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("blk"), createPod("blk")},
			wantPodFor: gen.ImportClaim("blk", gen.WithBlock()), wantOutcome: function.OutcomeCreated,
		},
		{
			name:     "secret and CA config map present",
			objects:  []runtime.Object{withSecrets, gen.Secret("s"), gen.ConfigMap("ca")},
			event:    requested(t, withSecrets),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c"), getSecret("s"), getConfigMap("ca"), createPod("c")},
			wantPodFor: withSecrets, wantOutcome: function.OutcomeCreated,
		},
		{
			name:     "s3 with the claim's own endpoint",
			objects:  []runtime.Object{s3},
			event:    requested(t, s3),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c"), createPod("c")},
			wantPodFor: s3, wantOutcome: function.OutcomeCreated,
		},
		{
			name:    "missing secret: Pending, the import waits",
			objects: []runtime.Object{gen.ImportClaim("c", gen.WithSecret("s"))}, event: requested(t, gen.ImportClaim("c", gen.WithSecret("s"))),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c"), getSecret("s"), recordOn("c")},
			wantReason: reason.MissingSecret, wantOutcome: function.OutcomeWaiting,
		},
		{
			name:    "missing CA config map: Pending",
			objects: []runtime.Object{gen.ImportClaim("c", gen.WithCertConfigMap("ca"))}, event: requested(t, gen.ImportClaim("c", gen.WithCertConfigMap("ca"))),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c"), getConfigMap("ca"), recordOn("c")},
			wantReason: reason.MissingCertConfigMap, wantOutcome: function.OutcomeWaiting,
		},
		{
			name:    "secrets not readable: check skipped",
			objects: []runtime.Object{gen.ImportClaim("c", gen.WithSecret("s"))}, event: requested(t, gen.ImportClaim("c", gen.WithSecret("s"))),
			reactors: []func(*fake.Clientset){fail("get", "secrets", apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "s", errors.New("rbac")))},
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c"), getSecret("s"), createPod("c")},
			wantPodFor: gen.ImportClaim("c", gen.WithSecret("s")), wantOutcome: function.OutcomeCreated,
		},
		{
			name:    "secret lookup fails: retried",
			objects: []runtime.Object{gen.ImportClaim("c", gen.WithSecret("s"))}, event: requested(t, gen.ImportClaim("c", gen.WithSecret("s"))),
			reactors:    []func(*fake.Clientset){fail("get", "secrets", apierrors.NewServiceUnavailable("etcd"))},
			wantCode:    http.StatusInternalServerError,
			wantActions: []string{getClaim("c"), getSecret("s")}, wantOutcome: function.OutcomeRetry,
		},
		{
			name:    "quota full: Pending with the API server's message, retried",
			objects: []runtime.Object{golden}, event: requested(t, golden),
			reactors: []func(*fake.Clientset){fail("create", "pods", quota)},
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("golden-pvc"), createPod("golden-pvc"), recordOn("golden-pvc")},
			wantReason: reason.CreatePod, wantOutcome: function.OutcomeWaiting,
		},
		{
			name:    "an invalid data pod: Failed",
			objects: []runtime.Object{golden}, event: requested(t, golden),
			reactors: []func(*fake.Clientset){fail("create", "pods", invalid)},
			wantCode: http.StatusBadRequest, wantActions: []string{getClaim("golden-pvc"), createPod("golden-pvc"), recordOn("golden-pvc")},
			wantReason: reason.InvalidPod, wantOutcome: function.OutcomeRefused,
		},
		{
			name:    "pod creation fails: retried",
			objects: []runtime.Object{golden}, event: requested(t, golden),
			reactors: []func(*fake.Clientset){fail("create", "pods", apierrors.NewInternalError(errors.New("etcd timeout")))},
			wantCode: http.StatusInternalServerError, wantActions: []string{getClaim("golden-pvc"), createPod("golden-pvc")},
			wantOutcome: function.OutcomeRetry,
		},
		{
			name:     "invalid checksum: Failed before any pod",
			objects:  []runtime.Object{gen.ImportClaim("c", gen.WithAnnotation(annotations.Checksum, "sha256:nothex"))},
			event:    requested(t, gen.ImportClaim("c", gen.WithAnnotation(annotations.Checksum, "sha256:nothex"))),
			wantCode: http.StatusBadRequest, wantActions: []string{getClaim("c"), recordOn("c")},
			wantReason: reason.InvalidRequest, wantOutcome: function.OutcomeRefused,
		},
		{
			name:     "invalid secret name: Failed before any pod",
			objects:  []runtime.Object{gen.ImportClaim("c", gen.WithSecret("Not_A_Name"))},
			event:    requested(t, gen.ImportClaim("c", gen.WithSecret("Not_A_Name"))),
			wantCode: http.StatusBadRequest, wantActions: []string{getClaim("c"), recordOn("c")},
			wantReason: reason.InvalidRequest, wantOutcome: function.OutcomeRefused,
		},
		{
			name:     "credentials in the URL: Failed before any pod",
			objects:  []runtime.Object{gen.ImportClaim("c", gen.WithEndpoint("https://admin:pw@images.example/disk.img"))},
			event:    requested(t, gen.ImportClaim("c", gen.WithEndpoint("https://admin:pw@images.example/disk.img"))),
			wantCode: http.StatusBadRequest, wantActions: []string{getClaim("c"), recordOn("c")},
			wantReason: reason.InvalidRequest, wantOutcome: function.OutcomeRefused,
		},
		{
			name:     "endpoint at the cloud metadata address: Failed before any pod",
			objects:  []runtime.Object{gen.ImportClaim("c", gen.WithEndpoint("http://169.254.169.254/latest/meta-data/"))},
			event:    requested(t, gen.ImportClaim("c", gen.WithEndpoint("http://169.254.169.254/latest/meta-data/"))),
			wantCode: http.StatusBadRequest, wantActions: []string{getClaim("c"), recordOn("c")},
			wantReason: reason.InvalidRequest, wantOutcome: function.OutcomeRefused,
			wantMessage: "cannot import: annotation cdi.kubevirt.io/storage.import.endpoint: 169.254.169.254 is link-local (cloud metadata): refused by the egress policy",
		},
		{
			name:     "endpoint at an IPv4-mapped loopback address",
			objects:  []runtime.Object{gen.ImportClaim("c", gen.WithEndpoint("https://[::ffff:127.0.0.1]:8443/disk.img"))},
			event:    requested(t, gen.ImportClaim("c", gen.WithEndpoint("https://[::ffff:127.0.0.1]:8443/disk.img"))),
			wantCode: http.StatusBadRequest, wantActions: []string{getClaim("c"), recordOn("c")},
			wantReason: reason.InvalidRequest, wantOutcome: function.OutcomeRefused,
			wantMessage: "cannot import: annotation cdi.kubevirt.io/storage.import.endpoint: ::ffff:127.0.0.1 is loopback: refused by the egress policy",
		},
		{
			name:     "endpoint in a denied cluster network",
			objects:  []runtime.Object{gen.ImportClaim("c", gen.WithEndpoint("http://10.96.0.1:443/api"))},
			event:    requested(t, gen.ImportClaim("c", gen.WithEndpoint("http://10.96.0.1:443/api"))),
			wantCode: http.StatusBadRequest, wantActions: []string{getClaim("c"), recordOn("c")},
			wantReason: reason.InvalidRequest, wantOutcome: function.OutcomeRefused,
			wantMessage: "cannot import: annotation cdi.kubevirt.io/storage.import.endpoint: 10.96.0.1 is in 10.96.0.0/12 (DATAMOVER_EGRESS_DENY): refused by the egress policy",
		},
		{
			name: "S3 endpoint at a link-local address",
			objects: []runtime.Object{gen.ImportClaim("c", gen.WithEndpoint("s3://images/disk.img"),
				gen.WithAnnotation(annotations.S3Endpoint, "http://[fe80::1%25eth0]:9000"))},
			event: requested(t, gen.ImportClaim("c", gen.WithEndpoint("s3://images/disk.img"),
				gen.WithAnnotation(annotations.S3Endpoint, "http://[fe80::1%25eth0]:9000"))),
			wantCode: http.StatusBadRequest, wantActions: []string{getClaim("c"), recordOn("c")},
			wantReason: reason.InvalidRequest, wantOutcome: function.OutcomeRefused,
			wantMessage: "cannot import: annotation cdi.kubevirt.io/storage.import.s3Endpoint: fe80::1%eth0 is link-local: refused by the egress policy",
		},
		{
			name:     "the allowed in-cluster image server",
			objects:  []runtime.Object{gen.ImportClaim("c", gen.WithEndpoint("http://10.96.0.80/disk.img"))},
			event:    requested(t, gen.ImportClaim("c", gen.WithEndpoint("http://10.96.0.80/disk.img"))),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c"), createPod("c")},
			wantPodFor: gen.ImportClaim("c", gen.WithEndpoint("http://10.96.0.80/disk.img")), wantOutcome: function.OutcomeCreated,
		},
		{
			name:     "a host name is not resolved by the importer",
			objects:  []runtime.Object{gen.ImportClaim("c", gen.WithEndpoint("http://metadata.google.internal/computeMetadata/v1/"))},
			event:    requested(t, gen.ImportClaim("c", gen.WithEndpoint("http://metadata.google.internal/computeMetadata/v1/"))),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c"), createPod("c")},
			wantPodFor: gen.ImportClaim("c", gen.WithEndpoint("http://metadata.google.internal/computeMetadata/v1/")), wantOutcome: function.OutcomeCreated,
		},
		{
			name:     "unsupported scheme",
			objects:  []runtime.Object{gen.ImportClaim("c", gen.WithEndpoint("ftp://images.example/disk.img"))},
			event:    requested(t, gen.ImportClaim("c", gen.WithEndpoint("ftp://images.example/disk.img"))),
			wantCode: http.StatusBadRequest, wantActions: []string{getClaim("c"), recordOn("c")},
			wantReason: reason.InvalidRequest, wantOutcome: function.OutcomeRefused,
		},
		{
			name:     "unsupported content type",
			objects:  []runtime.Object{gen.ImportClaim("c", gen.WithAnnotation(annotations.ContentType, "iso"))},
			event:    requested(t, gen.ImportClaim("c", gen.WithAnnotation(annotations.ContentType, "iso"))),
			wantCode: http.StatusBadRequest, wantActions: []string{getClaim("c"), recordOn("c")},
			wantReason: reason.InvalidRequest, wantOutcome: function.OutcomeRefused,
		},
		{
			name:     "claim is gone",
			event:    requested(t, golden),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("golden-pvc")}, wantOutcome: function.OutcomeObsolete,
		},
		{
			name:    "claim was re-created",
			objects: []runtime.Object{gen.ImportClaim("golden-pvc", gen.WithUID("new"))}, event: requested(t, golden),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("golden-pvc")}, wantOutcome: function.OutcomeObsolete,
		},
		{
			name:    "claim is being deleted",
			objects: []runtime.Object{gen.ImportClaim("c", gen.Deleting())}, event: requested(t, gen.ImportClaim("c")),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c")}, wantOutcome: function.OutcomeObsolete,
		},
		{
			name:    "claim no longer asks for an import",
			objects: []runtime.Object{gen.Claim("c")}, event: requested(t, gen.ImportClaim("c")),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c")}, wantOutcome: function.OutcomeObsolete,
		},
		{
			name:    "claim asks for another URL now",
			objects: []runtime.Object{gen.ImportClaim("c", gen.WithEndpoint("http://images.example/other.img"))}, event: requested(t, gen.ImportClaim("c")),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c")}, wantOutcome: function.OutcomeObsolete,
		},
		{
			name:    "import succeeded",
			objects: []runtime.Object{gen.ImportClaim("c", gen.WithPhase("Succeeded"))}, event: requested(t, gen.ImportClaim("c")),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c")}, wantOutcome: function.OutcomeObsolete,
		},
		{
			name:    "import failed",
			objects: []runtime.Object{gen.ImportClaim("c", gen.WithPhase("Failed"))}, event: requested(t, gen.ImportClaim("c")),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c")}, wantOutcome: function.OutcomeObsolete,
		},
		{
			name:    "import running (the pod was lost): the pod is made again",
			objects: []runtime.Object{gen.ImportClaim("c", gen.WithPhase("Running"))}, event: requested(t, gen.ImportClaim("c", gen.WithPhase("Running"))),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("c"), createPod("c")},
			wantPodFor: gen.ImportClaim("c"), wantOutcome: function.OutcomeCreated,
		},
		{
			name:    "event without endpoint",
			objects: []runtime.Object{golden}, event: requested(t, golden, func(p *events.ImportRequestedPayload) { p.Request.Endpoint = "" }),
			wantCode: http.StatusBadRequest, wantOutcome: function.OutcomeMalformed,
		},
		{
			name:    "event without claim uid",
			objects: []runtime.Object{golden}, event: requested(t, golden, func(p *events.ImportRequestedPayload) { p.Claim.UID = "" }),
			wantCode: http.StatusBadRequest, wantOutcome: function.OutcomeMalformed,
		},
		{
			name:    "event of another type",
			objects: []runtime.Object{golden},
			event: func() cloudevents.Event {
				e := requested(t, golden)
				e.SetType(events.DataPodPhase)
				return e
			}(),
			wantCode: http.StatusBadRequest, wantOutcome: function.OutcomeMalformed,
		},
		{
			name:    "event with a payload that is not JSON",
			objects: []runtime.Object{golden},
			event: func() cloudevents.Event {
				e := requested(t, golden)
				require.NoError(t, e.SetData("text/plain", []byte("not json")))
				return e
			}(),
			wantCode: http.StatusBadRequest, wantOutcome: function.OutcomeMalformed,
		},
		{
			name:    "data pod exists already",
			objects: []runtime.Object{golden, dataPod(golden)}, event: requested(t, golden),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("golden-pvc"), createPod("golden-pvc"), getPod("golden-pvc")},
			wantPodFor: golden, wantOutcome: function.OutcomeExists,
		},
		{
			name:    "data pod of an earlier claim of that name is still there",
			objects: []runtime.Object{golden, dataPod(gen.ImportClaim("golden-pvc", gen.WithUID("old")))}, event: requested(t, golden),
			wantCode:    http.StatusInternalServerError,
			wantActions: []string{getClaim("golden-pvc"), createPod("golden-pvc"), getPod("golden-pvc")}, wantOutcome: function.OutcomeRetry,
		},
		{
			name: "a pod that is not a data pod holds the name: Pending",
			objects: []runtime.Object{golden, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
				Name: "importer-golden-pvc", Namespace: ns, Labels: map[string]string{"app": "mine"}}}},
			event:    requested(t, golden),
			wantCode: http.StatusAccepted, wantActions: []string{getClaim("golden-pvc"), createPod("golden-pvc"), getPod("golden-pvc"), recordOn("golden-pvc")},
			wantReason: reason.PodNameConflict, wantOutcome: function.OutcomeWaiting,
		},
		{
			name:    "claim lookup fails: retried",
			objects: []runtime.Object{golden}, event: requested(t, golden),
			reactors: []func(*fake.Clientset){fail("get", "persistentvolumeclaims", apierrors.NewTooManyRequests("slow down", 1))},
			wantCode: http.StatusInternalServerError, wantActions: []string{getClaim("golden-pvc")}, wantOutcome: function.OutcomeRetry,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.objects, tt.reactors...)
			kubeBefore := len(f.kube.Actions())
			require.Zero(t, kubeBefore)
			assert.Equal(t, tt.wantCode, f.send(t, tt.event), "HTTP answer")
			kubetest.Expect(t, f.kube, tt.wantActions...)

			if tt.wantPodFor != nil {
				pods := f.pods(t)
				require.Len(t, pods, 1)
				want := dataPod(tt.wantPodFor)
				assert.Equal(t, want.Name, pods[0].Name)
				assert.Equal(t, want.Spec, pods[0].Spec, "the pod is datapod.ImportPod of the claim")
				assert.Equal(t, string(tt.wantPodFor.UID), pods[0].Labels[datapod.LabelClaimUID])
			}

			evs := f.events(t)
			if tt.wantReason == "" {
				assert.Empty(t, evs, "no Kubernetes Event")
				assert.Empty(t, f.reported, "nothing reported to the updater")
			} else {
				require.Len(t, evs, 1)
				assert.Equal(t, tt.wantReason, evs[0].Reason)
				assert.Equal(t, corev1.EventTypeWarning, evs[0].Type)
				assert.Equal(t, "PersistentVolumeClaim", evs[0].InvolvedObject.Kind)
				assert.NotEmpty(t, evs[0].Message)
				if tt.wantMessage != "" {
					assert.Equal(t, tt.wantMessage, evs[0].Message)
				}
				// Reported to the updater too: Failed when no later event
				// can fix it, Pending while it waits.
				require.Len(t, f.reported, 1)
				r := f.reported[0]
				assert.Equal(t, tt.wantReason, r.Reason)
				assert.Equal(t, evs[0].Message, r.Message)
				assert.Empty(t, r.Pod.UID, "a refusal names no pod of its own")
				if reason.Final(tt.wantReason) {
					assert.Equal(t, events.PodFailed, r.Phase)
					assert.True(t, r.Permanent)
				} else {
					assert.Equal(t, events.PodPending, r.Phase)
					assert.False(t, r.Permanent)
				}
			}
			assert.Equal(t, int64(1), f.outcome(t, tt.wantOutcome), "outcome %s counted", tt.wantOutcome)
		})
	}
}

// TestOnlyTheEventSourceRequestsImports: any other sender, authenticated or
// not, creates nothing and writes nothing.
func TestOnlyTheEventSourceRequestsImports(t *testing.T) {
	golden := gen.ImportClaim("golden-pvc")
	for _, tt := range []struct {
		name, token string
		wantCode    int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"forged token", "made-up", http.StatusUnauthorized},
		{"a data pod", dataPodToken, http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, []runtime.Object{golden})
			code, msg := f.srv.Send(t, tt.token, requested(t, golden))
			assert.Equal(t, tt.wantCode, code, msg)
			kubetest.Expect(t, f.kube) // no API action at all
			assert.Empty(t, f.reported)
		})
	}
}

// TestDuplicateEvents: events arrive at least once; a resend never makes a
// second pod and a repeated problem makes one Event with a count.
func TestDuplicateEvents(t *testing.T) {
	c := gen.ImportClaim("golden-pvc")
	f := newFixture(t, []runtime.Object{c})
	e := requested(t, c)
	for range 3 {
		assert.Equal(t, http.StatusAccepted, f.send(t, e))
	}
	assert.Len(t, f.pods(t), 1)
	assert.Equal(t, int64(1), f.outcome(t, function.OutcomeCreated))
	assert.Equal(t, int64(2), f.outcome(t, function.OutcomeExists))

	s := gen.ImportClaim("with-secret", gen.WithSecret("missing"))
	f = newFixture(t, []runtime.Object{s})
	for range 2 {
		assert.Equal(t, http.StatusAccepted, f.send(t, requested(t, s)))
	}
	evs := f.events(t)
	require.Len(t, evs, 1, "one Event, counted")
	assert.Equal(t, int32(2), evs[0].Count)
	assert.Contains(t, evs[0].Message, "Secret default/missing (annotation cdi.kubevirt.io/storage.import.secretName) does not exist")

	// Once the Secret exists, the next send of the same request proceeds.
	_, err := f.kube.CoreV1().Secrets(ns).Create(context.Background(), gen.Secret("missing"), metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, f.send(t, requested(t, s)))
	assert.Len(t, f.pods(t), 1)
}

// TestRecreatedClaim: a claim deleted and created again under the same name
// is a new claim: old events do nothing, its own event waits for the old
// pod to go, then gets a pod of its own.
func TestRecreatedClaim(t *testing.T) {
	old := gen.ImportClaim("vm-disk", gen.WithUID("old"))
	current := gen.ImportClaim("vm-disk", gen.WithUID("new"))
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

// TestRefusalReportFailsRetries: when the refusal cannot be reported to the
// updater, the event is answered 5xx so that it is sent again.
func TestRefusalReportFailsRetries(t *testing.T) {
	bad := gen.ImportClaim("c", gen.WithEndpoint("ftp://host/disk.img"))
	f := newFixture(t, []runtime.Object{bad})
	f.importer.status = func(context.Context, events.DataPodPhasePayload) error { return errors.New("updater down") }
	assert.Equal(t, http.StatusInternalServerError, f.send(t, requested(t, bad)))
}

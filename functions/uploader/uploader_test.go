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
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/record"
)

const ns = gen.Namespace

var testTime = time.Date(2026, 12, 4, 3, 4, 5, 0, time.UTC)

const (
	eventSourceToken = "event-source-token"
	dataPodToken     = "data-pod-token"
	eventSourceUser  = "system:serviceaccount:cdi:cdi-eventsource"
)

var tokens = functest.Tokens{
	eventSourceToken: {Username: eventSourceUser, ServiceAccount: &auth.ServiceAccount{Namespace: "cdi", Name: "cdi-eventsource"}},
	dataPodToken: {Username: "system:serviceaccount:default:default", ServiceAccount: &auth.ServiceAccount{Namespace: "default", Name: "default"},
		Pod: &auth.Pod{Name: "cdi-upload-upload-pvc", UID: "pod-uid-upload-pvc"}},
}

var testConfig = datapod.Config{Image: "datamover:test", Sink: "http://cdi-updater.cdi.svc.cluster.local", PullPolicy: corev1.PullIfNotPresent}

func uploadClaim(name string, opts ...gen.ClaimOption) *corev1.PersistentVolumeClaim {
	return gen.Claim(name, append([]gen.ClaimOption{gen.WithUploadTarget()}, opts...)...)
}

// requested is the UploadRequested event the event source sends for c.
func requested(t *testing.T, c *corev1.PersistentVolumeClaim) cloudevents.Event {
	t.Helper()
	req, _ := annotations.UploadRequestOf(c.Annotations)
	e, err := events.NewUploadRequested(events.UploadRequestedPayload{
		Claim: events.Claim{Namespace: c.Namespace, Name: c.Name, UID: string(c.UID)}, Request: req}, testTime)
	require.NoError(t, err)
	return e
}

func fail(verb, resource string, err error) func(*fake.Clientset) {
	return func(k *fake.Clientset) {
		k.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
	}
}

// terminatingErr is the API server's refusal to create in a namespace
// being deleted.
func terminatingErr() error {
	err := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "x", errors.New("namespace is being terminated"))
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}
	return err
}

type fixture struct {
	kube      *fake.Clientset
	uploader  *Uploader
	authority *podcred.Authority
	srv       *functest.Server
	reported  []events.DataPodPhasePayload
}

func newFixture(t *testing.T, objects []runtime.Object, reactors ...func(*fake.Clientset)) *fixture {
	t.Helper()
	kube := fake.NewClientset(objects...)
	for _, r := range reactors {
		r(kube)
	}
	a, err := podcred.New(testTime)
	require.NoError(t, err)
	f := &fixture{kube: kube, authority: a}
	report := func(_ context.Context, p events.DataPodPhasePayload) error {
		f.reported = append(f.reported, p)
		return nil
	}
	meter := functest.NewMeter()
	rec := record.New(kube, "cdi-uploader", "cdi-functions.io/uploader", "cdi-uploader-0", func() time.Time { return testTime })
	up, err := newUploader(kube, testConfig, a, eventSourceUser, rec, report, meter, func() time.Time { return testTime })
	require.NoError(t, err)
	f.uploader = up
	f.srv = functest.Serve(t, "uploader", up.Handle, tokens, meter)
	return f
}

func (f *fixture) send(t *testing.T, e cloudevents.Event) int {
	t.Helper()
	code, _ := f.srv.Send(t, eventSourceToken, e)
	return code
}

func (f *fixture) outcome(t *testing.T, outcome string) int64 {
	t.Helper()
	return f.srv.Meter.Count(t, "cdi.uploader.events", attribute.String("outcome", outcome))
}

func getClaim(name string) string { return "get persistentvolumeclaims " + ns + "/" + name }
func createSecret(c *corev1.PersistentVolumeClaim) string {
	return "create secrets " + ns + "/" + datapod.UploadSecretName(string(c.UID))
}
func createPod(claim string) string { return "create pods " + ns + "/" + datapod.UploadPodName(claim) }
func getPod(claim string) string    { return "get pods " + ns + "/" + datapod.UploadPodName(claim) }
func recordOn(claim string) string  { return "create events " + ns + "/" + claim + ".*" }

func TestHandle(t *testing.T) {
	upload := uploadClaim("upload-pvc")
	tests := []struct {
		name       string
		claim      *corev1.PersistentVolumeClaim
		objects    []runtime.Object
		reactors   []func(*fake.Clientset)
		event      *corev1.PersistentVolumeClaim // the claim the event is for; claim when nil
		wantCode   int
		wantAction func(c *corev1.PersistentVolumeClaim) []string
		wantPods   int
		wantReport string // reason reported to the updater
		wantFinal  bool
	}{
		{name: "the seed's upload-pvc: secret and pod", claim: upload, wantCode: http.StatusAccepted, wantPods: 1,
			wantAction: func(c *corev1.PersistentVolumeClaim) []string {
				return []string{getClaim(c.Name), createSecret(c), createPod(c.Name)}
			}},
		{name: "claim gone", claim: nil, event: upload, wantCode: http.StatusAccepted,
			wantAction: func(*corev1.PersistentVolumeClaim) []string { return []string{getClaim("upload-pvc")} }},
		{name: "claim re-created", claim: uploadClaim("upload-pvc", gen.WithUID("new")), event: upload, wantCode: http.StatusAccepted,
			wantAction: func(*corev1.PersistentVolumeClaim) []string { return []string{getClaim("upload-pvc")} }},
		{name: "already uploaded", claim: uploadClaim("upload-pvc", gen.WithPhase(annotations.PhaseSucceeded)), wantCode: http.StatusAccepted,
			wantAction: func(c *corev1.PersistentVolumeClaim) []string { return []string{getClaim(c.Name)} }},
		{name: "being deleted", claim: uploadClaim("upload-pvc", gen.Deleting()), wantCode: http.StatusAccepted,
			wantAction: func(c *corev1.PersistentVolumeClaim) []string { return []string{getClaim(c.Name)} }},
		{name: "also asks for an import: refused, Failed", claim: uploadClaim("both", gen.WithEndpoint("http://images/disk.img")),
			wantCode: http.StatusBadRequest, wantReport: reason.InvalidRequest, wantFinal: true,
			wantAction: func(c *corev1.PersistentVolumeClaim) []string { return []string{getClaim(c.Name), recordOn(c.Name)} }},
		{name: "bad content type: refused", claim: uploadClaim("ct", gen.WithAnnotation(annotations.ContentType, "tarball")),
			wantCode: http.StatusBadRequest, wantReport: reason.InvalidRequest, wantFinal: true,
			wantAction: func(c *corev1.PersistentVolumeClaim) []string { return []string{getClaim(c.Name), recordOn(c.Name)} }},
		{name: "Pod Security or a quota refuses the pod: waits", claim: upload,
			reactors: []func(*fake.Clientset){fail("create", "pods", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New("exceeded quota")))},
			wantCode: http.StatusAccepted, wantReport: reason.CreatePod,
			wantAction: func(c *corev1.PersistentVolumeClaim) []string {
				return []string{getClaim(c.Name), createSecret(c), createPod(c.Name), recordOn(c.Name)}
			}},
		{name: "namespace being deleted: obsolete", claim: upload,
			reactors:   []func(*fake.Clientset){fail("create", "secrets", terminatingErr())},
			wantCode:   http.StatusAccepted,
			wantAction: func(c *corev1.PersistentVolumeClaim) []string { return []string{getClaim(c.Name), createSecret(c)} }},
		{name: "API trouble: retried", claim: upload,
			reactors:   []func(*fake.Clientset){fail("create", "secrets", apierrors.NewServiceUnavailable("etcd"))},
			wantCode:   http.StatusInternalServerError,
			wantAction: func(c *corev1.PersistentVolumeClaim) []string { return []string{getClaim(c.Name), createSecret(c)} }},
		{name: "credential Secret left by an earlier attempt: kept", claim: upload,
			objects:  []runtime.Object{datapod.UploadSecret(upload, "x", nil, nil)},
			wantCode: http.StatusAccepted, wantPods: 1,
			wantAction: func(c *corev1.PersistentVolumeClaim) []string {
				return []string{getClaim(c.Name), createSecret(c), createPod(c.Name)}
			}},
		{name: "a foreign pod holds the name: waits", claim: upload,
			objects:  []runtime.Object{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: datapod.UploadPodName("upload-pvc")}}},
			wantCode: http.StatusAccepted, wantPods: 1, wantReport: reason.PodNameConflict,
			wantAction: func(c *corev1.PersistentVolumeClaim) []string {
				return []string{getClaim(c.Name), createSecret(c), createPod(c.Name), getPod(c.Name), recordOn(c.Name)}
			}},
		{name: "an earlier claim's pod holds the name: retried", claim: upload,
			objects:  []runtime.Object{datapod.UploadPod(uploadClaim("upload-pvc", gen.WithUID("old")), "s", testConfig)},
			wantCode: http.StatusInternalServerError, wantPods: 1,
			wantAction: func(c *corev1.PersistentVolumeClaim) []string {
				return []string{getClaim(c.Name), createSecret(c), createPod(c.Name), getPod(c.Name)}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects := tt.objects
			if tt.claim != nil {
				objects = append(objects, tt.claim)
			}
			f := newFixture(t, objects, tt.reactors...)
			kube := f.kube
			kube.ClearActions()
			ev := tt.event
			if ev == nil {
				ev = tt.claim
			}
			assert.Equal(t, tt.wantCode, f.send(t, requested(t, ev)))
			target := tt.claim
			if target == nil {
				target = ev
			}
			kubetest.Expect(t, kube, tt.wantAction(target)...)
			pods, err := kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
			require.NoError(t, err)
			assert.Len(t, pods.Items, tt.wantPods)
			if tt.wantReport == "" {
				assert.Empty(t, f.reported)
				return
			}
			require.Len(t, f.reported, 1)
			r := f.reported[0]
			assert.Equal(t, tt.wantReport, r.Reason)
			assert.Equal(t, tt.wantFinal, r.Permanent)
			assert.Equal(t, datapod.UploadPodName(target.Name), r.Pod.Name)
			assert.Empty(t, r.Pod.UID, "a refusal names no pod of its own")
		})
	}
}

// TestCredential: the pod's Secret holds a credential the proxy can derive
// and a certificate for this claim only, and the pod mounts it.
func TestCredential(t *testing.T) {
	c := uploadClaim("upload-pvc")
	f := newFixture(t, []runtime.Object{c})
	require.Equal(t, http.StatusAccepted, f.send(t, requested(t, c)))
	s, err := f.kube.CoreV1().Secrets(ns).Get(context.Background(), datapod.UploadSecretName(string(c.UID)), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, f.authority.Credential(string(c.UID)), string(s.Data[datapod.CredentialKey]))
	assert.Contains(t, string(s.Data[datapod.TLSCertKey]), "BEGIN CERTIFICATE")
	assert.Equal(t, c.UID, s.OwnerReferences[0].UID, "the Secret goes with the claim")
	pod, err := f.kube.CoreV1().Pods(ns).Get(context.Background(), datapod.UploadPodName(c.Name), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, datapod.UploadPod(c, s.Name, testConfig).Spec, pod.Spec)
}

func TestOnlyTheEventSourceRequestsUploads(t *testing.T) {
	c := uploadClaim("upload-pvc")
	for _, tt := range []struct {
		name, token string
		wantCode    int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"forged token", "made-up", http.StatusUnauthorized},
		{"a data pod", dataPodToken, http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, []runtime.Object{c})
			code, msg := f.srv.Send(t, tt.token, requested(t, c))
			assert.Equal(t, tt.wantCode, code, msg)
			kubetest.Expect(t, f.kube)
			assert.Empty(t, f.reported)
		})
	}
}

func TestDuplicateEvents(t *testing.T) {
	c := uploadClaim("upload-pvc")
	f := newFixture(t, []runtime.Object{c})
	for range 3 {
		assert.Equal(t, http.StatusAccepted, f.send(t, requested(t, c)))
	}
	assert.Equal(t, int64(1), f.outcome(t, function.OutcomeCreated))
	assert.Equal(t, int64(2), f.outcome(t, function.OutcomeExists))
}

func TestMalformed(t *testing.T) {
	c := uploadClaim("upload-pvc")
	f := newFixture(t, []runtime.Object{c})
	e := requested(t, c)
	require.NoError(t, e.SetData(cloudevents.ApplicationJSON, map[string]any{"claim": map[string]string{"name": "x"}}))
	assert.Equal(t, http.StatusBadRequest, f.send(t, e))
	kubetest.Expect(t, f.kube)
}

func TestRefusalReportFailsRetries(t *testing.T) {
	bad := uploadClaim("c", gen.WithEndpoint("http://images/disk.img"))
	f := newFixture(t, []runtime.Object{bad})
	f.uploader.status = func(context.Context, events.DataPodPhasePayload) error { return errors.New("updater down") }
	assert.Equal(t, http.StatusInternalServerError, f.send(t, requested(t, bad)))
}

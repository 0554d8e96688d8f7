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
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cdi-functions/cdi-functions/internal/functest"
	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/internal/kubetest"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/record"
)

const ns = gen.Namespace

var testTime = time.Date(2026, 12, 6, 3, 4, 5, 0, time.UTC)

const (
	eventSourceToken = "event-source-token"
	dataPodToken     = "data-pod-token"
	eventSourceUser  = "system:serviceaccount:cdi:cdi-eventsource"
)

var tokens = functest.Tokens{
	eventSourceToken: {Username: eventSourceUser, ServiceAccount: &auth.ServiceAccount{Namespace: "cdi", Name: "cdi-eventsource"}},
	dataPodToken: {Username: "system:serviceaccount:default:default", ServiceAccount: &auth.ServiceAccount{Namespace: "default", Name: "default"},
		Pod: &auth.Pod{Name: "cdi-clone-target", UID: "pod-uid"}},
}

var testConfig = datapod.Config{Image: "datamover:test", Sink: "http://cdi-updater.cdi.svc.cluster.local", PullPolicy: corev1.PullIfNotPresent}

func requested(t *testing.T, c *corev1.PersistentVolumeClaim) cloudevents.Event {
	t.Helper()
	e, err := events.NewCloneRequested(payloadOf(c), testTime)
	require.NoError(t, err)
	return e
}

type fixture struct {
	kube     *fake.Clientset
	cloner   *Cloner
	srv      *functest.Server
	reported []events.DataPodPhasePayload
}

func newFixture(t *testing.T, verify Verifier, objects ...runtime.Object) *fixture {
	t.Helper()
	kube := fake.NewClientset(objects...)
	a, err := podcred.New(testTime)
	require.NoError(t, err)
	f := &fixture{kube: kube}
	report := func(_ context.Context, p events.DataPodPhasePayload) error {
		f.reported = append(f.reported, p)
		return nil
	}
	if verify == nil {
		verify = func(context.Context, *corev1.PersistentVolumeClaim) error { return nil }
	}
	meter := functest.NewMeter()
	rec := record.New(kube, "cdi-cloner", "cdi-functions.io/cloner", "cdi-cloner-0", func() time.Time { return testTime })
	c, err := newCloner(kube, testConfig, a, verify, eventSourceUser, rec, report, meter, func() time.Time { return testTime })
	require.NoError(t, err)
	f.cloner = c
	f.srv = functest.Serve(t, "cloner", c.Handle, tokens, meter)
	return f
}

func (f *fixture) send(t *testing.T, e cloudevents.Event) int {
	t.Helper()
	code, _ := f.srv.Send(t, eventSourceToken, e)
	return code
}

func (f *fixture) outcome(t *testing.T, outcome string) int64 {
	t.Helper()
	return f.srv.Meter.Count(t, "cdi.cloner.events", attribute.String("outcome", outcome))
}

// The API actions of a clone into target.
func getTarget(c *corev1.PersistentVolumeClaim) string {
	return "get persistentvolumeclaims " + ns + "/" + c.Name
}
func getSource() string { return "get persistentvolumeclaims golden/golden-pvc" }
func targetSecret(c *corev1.PersistentVolumeClaim) string {
	return "create secrets " + ns + "/" + datapod.CloneSecretName(string(c.UID))
}
func targetPod(c *corev1.PersistentVolumeClaim) string {
	return "create pods " + ns + "/" + datapod.CloneTargetPodName(c.Name)
}
func service(c *corev1.PersistentVolumeClaim) string {
	return "create services " + ns + "/" + datapod.CloneServiceName(string(c.UID))
}
func sourcePod(c *corev1.PersistentVolumeClaim, verb string) string {
	return verb + " pods golden/" + datapod.CloneSourcePodName(string(c.UID))
}
func sourceSecret(c *corev1.PersistentVolumeClaim) string {
	return "create secrets golden/" + datapod.CloneSourcePodName(string(c.UID))
}
func recordOn(c *corev1.PersistentVolumeClaim) string {
	return "create events " + ns + "/" + c.Name + ".*"
}

func TestHandle(t *testing.T) {
	target := cloneClaim("target")
	all := func(c *corev1.PersistentVolumeClaim) []string {
		return []string{getTarget(c), getSource(), targetSecret(c), targetPod(c), service(c), sourcePod(c, "create"), sourceSecret(c)}
	}
	succeededSource := datapod.CloneSourcePod(sourceClaim(), target, testConfig)
	succeededSource.Status.Phase = corev1.PodSucceeded
	failedSource := succeededSource.DeepCopy()
	failedSource.Status.Phase = corev1.PodFailed
	tests := []struct {
		name       string
		objects    []runtime.Object
		verify     Verifier
		wantCode   int
		wantAction []string
		wantReport string
		wantFinal  bool
	}{
		{name: "the seed's clone: both pods, their Secrets, the Service", objects: []runtime.Object{target, sourceClaim()},
			wantCode: http.StatusAccepted, wantAction: all(target)},
		{name: "source missing: waits, saying so", objects: []runtime.Object{target},
			wantCode: http.StatusAccepted, wantReport: reason.CloneSourceNotReady,
			wantAction: []string{getTarget(target), getSource(), recordOn(target)}},
		{name: "not authorized: Failed", objects: []runtime.Object{target, sourceClaim()},
			verify: func(context.Context, *corev1.PersistentVolumeClaim) error {
				return errors.New("the signature does not verify")
			},
			wantCode: http.StatusBadRequest, wantReport: reason.CloneNotAuthorized, wantFinal: true,
			wantAction: []string{getTarget(target), recordOn(target)}},
		{name: "the webhook's key is not published yet: retried", objects: []runtime.Object{target, sourceClaim()},
			verify:     func(context.Context, *corev1.PersistentVolumeClaim) error { return errNoVerificationKey },
			wantCode:   http.StatusInternalServerError,
			wantAction: []string{getTarget(target)}},
		{name: "target smaller: Failed", objects: []runtime.Object{target, sourceClaim(gen.WithSize("11Gi"))},
			wantCode: http.StatusBadRequest, wantReport: reason.CloneTargetTooSmall, wantFinal: true,
			wantAction: []string{getTarget(target), getSource(), recordOn(target)}},
		{name: "a source pod that failed for good is replaced", objects: []runtime.Object{target, sourceClaim(), failedSource},
			wantCode: http.StatusInternalServerError,
			wantAction: []string{getTarget(target), getSource(), targetSecret(target), targetPod(target), service(target),
				sourcePod(target, "create"), sourcePod(target, "get"), sourcePod(target, "delete")}},
		{name: "a source pod done with an earlier target pod is replaced", objects: []runtime.Object{target, sourceClaim(), succeededSource},
			wantCode: http.StatusInternalServerError,
			wantAction: []string{getTarget(target), getSource(), targetSecret(target), targetPod(target), service(target),
				sourcePod(target, "create"), sourcePod(target, "get"), sourcePod(target, "delete")}},
		{name: "a foreign pod holds the source pod's name: waits", objects: []runtime.Object{target, sourceClaim(),
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "golden", Name: datapod.CloneSourcePodName(string(target.UID))}}},
			wantCode: http.StatusAccepted, wantReport: reason.PodNameConflict,
			wantAction: []string{getTarget(target), getSource(), targetSecret(target), targetPod(target), service(target),
				sourcePod(target, "create"), sourcePod(target, "get"), recordOn(target)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.verify, tc.objects...)
			f.kube.ClearActions()
			assert.Equal(t, tc.wantCode, f.send(t, requested(t, target)))
			kubetest.Expect(t, f.kube, tc.wantAction...)
			if tc.wantReport == "" {
				assert.Empty(t, f.reported)
				return
			}
			require.Len(t, f.reported, 1)
			assert.Equal(t, tc.wantReport, f.reported[0].Reason)
			assert.Equal(t, tc.wantFinal, f.reported[0].Permanent)
			assert.Empty(t, f.reported[0].Pod.UID, "a refusal names no pod of its own")
		})
	}
}

// TestObjects: what the clone's objects hold, and who owns them.
func TestObjects(t *testing.T) {
	target := cloneClaim("target")
	f := newFixture(t, nil, target, sourceClaim())
	f.kube.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pod := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		pod.UID = types.UID("uid-of-" + pod.Name)
		return false, nil, nil
	})
	require.Equal(t, http.StatusAccepted, f.send(t, requested(t, target)))
	ctx := context.Background()
	ts, err := f.kube.CoreV1().Secrets(ns).Get(ctx, datapod.CloneSecretName(string(target.UID)), metav1.GetOptions{})
	require.NoError(t, err)
	ss, err := f.kube.CoreV1().Secrets("golden").Get(ctx, datapod.CloneSourcePodName(string(target.UID)), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, ts.Data[datapod.CredentialKey], ss.Data[datapod.CredentialKey], "one credential, unique to the clone")
	assert.Equal(t, f.cloner.authority.CloneCredential(string(target.UID)), string(ss.Data[datapod.CredentialKey]))
	assert.Contains(t, string(ss.Data[datapod.CACertKey]), "BEGIN CERTIFICATE")
	assert.NotContains(t, ss.Data, datapod.TLSKeyKey, "the source never holds the target's key")
	assert.Equal(t, "Pod", ss.OwnerReferences[0].Kind, "the source's Secret goes with the source pod")
	svc, err := f.kube.CoreV1().Services(ns).Get(ctx, datapod.CloneServiceName(string(target.UID)), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "Pod", svc.OwnerReferences[0].Kind, "the Service goes with the target pod")
	src, err := f.kube.CoreV1().Pods("golden").Get(ctx, datapod.CloneSourcePodName(string(target.UID)), metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, src.Spec.Volumes[0].PersistentVolumeClaim.ReadOnly, "the source claim is mounted read-only")
}

func TestOnlyTheEventSourceRequestsClones(t *testing.T) {
	target := cloneClaim("target")
	for _, tc := range []struct {
		name, token string
		wantCode    int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"forged token", "made-up", http.StatusUnauthorized},
		{"a data pod", dataPodToken, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, target, sourceClaim())
			code, msg := f.srv.Send(t, tc.token, requested(t, target))
			assert.Equal(t, tc.wantCode, code, msg)
			kubetest.Expect(t, f.kube)
		})
	}
}

func TestDuplicateEvents(t *testing.T) {
	target := cloneClaim("target")
	f := newFixture(t, nil, target, sourceClaim())
	for range 3 {
		assert.Equal(t, http.StatusAccepted, f.send(t, requested(t, target)))
	}
	assert.Equal(t, int64(1), f.outcome(t, function.OutcomeCreated))
	assert.Equal(t, int64(2), f.outcome(t, function.OutcomeExists))
}

func TestAPITroubleRetries(t *testing.T) {
	target := cloneClaim("target")
	f := newFixture(t, nil, target, sourceClaim())
	f.kube.PrependReactor("create", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd")
	})
	assert.Equal(t, http.StatusInternalServerError, f.send(t, requested(t, target)))
}

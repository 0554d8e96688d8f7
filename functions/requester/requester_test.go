package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cdi-functions/cdi-functions/internal/functest"
	"github.com/cdi-functions/cdi-functions/internal/kubetest"
	"github.com/cdi-functions/cdi-functions/pkg/access"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/events"
)

var testTime = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

const (
	ciToken    = "ci-token"
	otherToken = "other-token"
	ciUser     = "system:serviceaccount:ci:pipeline"
	otherUser  = "system:serviceaccount:ci:other"
)

var tokens = functest.Tokens{
	ciToken:    {Username: ciUser, ServiceAccount: &auth.ServiceAccount{Namespace: "ci", Name: "pipeline"}},
	otherToken: {Username: otherUser, ServiceAccount: &auth.ServiceAccount{Namespace: "ci", Name: "other"}},
}

// payload is a valid import request for vms/disk, changed by opts.
func payload(opts ...func(*events.VolumeRequestedPayload)) events.VolumeRequestedPayload {
	p := events.VolumeRequestedPayload{
		Claim:  events.ClaimRef{Namespace: "vms", Name: "disk"},
		Size:   "1Gi",
		Source: events.VolumeSource{Import: &events.ImportSource{Endpoint: "http://images.example/disk.qcow2"}},
	}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func withClone(ns, name string) func(*events.VolumeRequestedPayload) {
	return func(p *events.VolumeRequestedPayload) {
		p.Source = events.VolumeSource{Clone: &annotations.CloneSource{Namespace: ns, Name: name}}
	}
}

func withReplyTo(u string) func(*events.VolumeRequestedPayload) {
	return func(p *events.VolumeRequestedPayload) { p.ReplyTo = u }
}

func requested(t *testing.T, id string, p events.VolumeRequestedPayload) cloudevents.Event {
	t.Helper()
	e, err := events.NewVolumeRequested(id, "/ci/pipeline", p, testTime)
	require.NoError(t, err)
	return e
}

// existing is the claim request id made for sender.
func existing(id, sender string, p events.VolumeRequestedPayload) *corev1.PersistentVolumeClaim {
	c := claimFor(request{ID: id, Source: "/ci/pipeline", Sender: sender, Payload: p})
	c.UID = "claim-uid"
	return c
}

// rbac lets ciUser create claims in vms and clone from golden; otherUser
// nothing.
func rbac(kube *fake.Clientset) {
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		r := sar.Spec.ResourceAttributes
		sar.Status.Allowed = sar.Spec.User == ciUser && ((r.Namespace == "vms" && r.Resource == "persistentvolumeclaims") ||
			(r.Namespace == "golden" && r.Resource == "pods"))
		return true, sar, nil
	})
}

type sent struct {
	typ     string
	payload events.VolumeReplyPayload
	replyTo string
}

func TestHandle(t *testing.T) {
	plain := payload(withReplyTo("http://ci-events.vms.svc.cluster.local/"))
	tests := []struct {
		name        string
		token       string
		id          string
		payload     events.VolumeRequestedPayload
		objects     []runtime.Object
		wantCode    int
		wantActions []string
		wantReply   string
		wantStatus  int
		wantErrors  []string
		wantOutcome string
	}{{
		name: "a new request: the claim is made", token: ciToken, id: "r1", payload: plain,
		wantCode: http.StatusAccepted, wantReply: events.VolumeAccepted, wantStatus: 202, wantOutcome: "created",
		wantActions: []string{"create subjectaccessreviews", "create persistentvolumeclaims vms/disk"},
	}, {
		name: "the same request again: the same claim, no second one", token: ciToken, id: "r1", payload: plain,
		objects:  []runtime.Object{existing("r1", ciUser, plain)},
		wantCode: http.StatusAccepted, wantReply: events.VolumeAccepted, wantStatus: 202, wantOutcome: "exists",
		wantActions: []string{"create subjectaccessreviews", "create persistentvolumeclaims vms/disk", "get persistentvolumeclaims vms/disk"},
	}, {
		name: "the same id, a different request: 409", token: ciToken, id: "r1", payload: payload(func(p *events.VolumeRequestedPayload) { p.Size = "2Gi" }),
		objects:  []runtime.Object{existing("r1", ciUser, plain)},
		wantCode: http.StatusConflict, wantReply: events.VolumeRejected, wantStatus: 409, wantOutcome: "conflict",
		wantErrors:  []string{"asking something else"},
		wantActions: []string{"create subjectaccessreviews", "create persistentvolumeclaims vms/disk", "get persistentvolumeclaims vms/disk"},
	}, {
		name: "another request's claim: 409", token: ciToken, id: "r2", payload: plain,
		objects:  []runtime.Object{existing("r1", ciUser, plain)},
		wantCode: http.StatusConflict, wantReply: events.VolumeRejected, wantStatus: 409, wantOutcome: "conflict",
		wantErrors:  []string{`made by another request (id "r1"`},
		wantActions: []string{"create subjectaccessreviews", "create persistentvolumeclaims vms/disk", "get persistentvolumeclaims vms/disk"},
	}, {
		name: "a claim made by hand: 409", token: ciToken, id: "r1", payload: plain,
		objects:  []runtime.Object{&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "vms", Name: "disk"}}},
		wantCode: http.StatusConflict, wantReply: events.VolumeRejected, wantStatus: 409, wantOutcome: "conflict",
		wantErrors:  []string{"not made by a request"},
		wantActions: []string{"create subjectaccessreviews", "create persistentvolumeclaims vms/disk", "get persistentvolumeclaims vms/disk"},
	}, {
		name: "an invalid request: 400 with every reason, nothing asked, nothing made", token: ciToken, id: "r1",
		payload: payload(func(p *events.VolumeRequestedPayload) {
			p.Size, p.VolumeMode = "lots", "Tape"
			p.Source.Import.Endpoint, p.Source.Import.Checksum = "ftp://x/y", "sha256:nothex"
		}),
		wantCode: http.StatusBadRequest, wantReply: events.VolumeRejected, wantStatus: 400, wantOutcome: "refused",
		wantErrors: []string{`size: "lots" is not a quantity`, `volumeMode: "Tape"`, `source.import.endpoint: scheme "ftp"`, "source.import.checksum:"},
	}, {
		name: "a sender who may not create claims there: 403, its replyTo is not called", token: otherToken, id: "r1", payload: plain,
		wantCode: http.StatusForbidden, wantReply: events.VolumeRejected, wantStatus: 403, wantOutcome: "forbidden",
		wantErrors:  []string{"may not create persistentvolumeclaims in namespace vms"},
		wantActions: []string{"create subjectaccessreviews"},
	}, {
		name: "a clone from a namespace the sender may clone from", token: ciToken, id: "r1", payload: payload(withClone("golden", "image")),
		wantCode: http.StatusAccepted, wantReply: events.VolumeAccepted, wantStatus: 202, wantOutcome: "created",
		wantActions: []string{"create subjectaccessreviews", "create subjectaccessreviews", "create subjectaccessreviews",
			"create persistentvolumeclaims vms/disk"},
	}, {
		name: "a clone from a namespace the sender may not clone from: 403", token: ciToken, id: "r1", payload: payload(withClone("secrets", "db")),
		wantCode: http.StatusForbidden, wantReply: events.VolumeRejected, wantStatus: 403, wantOutcome: "forbidden",
		wantErrors:  []string{"may not clone from namespace secrets"},
		wantActions: []string{"create subjectaccessreviews", "create subjectaccessreviews", "create subjectaccessreviews"},
	}, {
		name: "anonymous: 401, nothing asked, nothing made, no reply", token: "", id: "r1", payload: plain,
		wantCode: http.StatusUnauthorized,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kube := fake.NewClientset(tt.objects...)
			rbac(kube)
			var replies []sent
			replier := func(_ context.Context, e cloudevents.Event, replyTo, ns string) error {
				var p events.VolumeReplyPayload
				require.NoError(t, e.DataAs(&p))
				assert.Equal(t, "vms", ns)
				assert.Equal(t, tt.id, e.Extensions()[events.ExtensionRequestID])
				replies = append(replies, sent{typ: e.Type(), payload: p, replyTo: replyTo})
				if p.Status == 400 || p.Status == 403 {
					assert.Empty(t, replyTo, "an unauthorized sender's replyTo is never called")
				} else {
					assert.Equal(t, tt.payload.ReplyTo, replyTo)
				}
				return nil
			}
			meter := functest.NewMeter()
			q, err := newRequester(kube, access.Reviewer(kube), replier, meter, func() time.Time { return testTime })
			require.NoError(t, err)
			srv := functest.Serve(t, "requester", q.Handle, tokens, meter)
			code, msg := srv.Send(t, tt.token, requested(t, tt.id, tt.payload))
			assert.Equal(t, tt.wantCode, code, msg)
			for _, e := range tt.wantErrors {
				assert.Contains(t, msg, e, "the answer says why")
			}
			kubetest.Expect(t, kube, tt.wantActions...)
			if tt.wantReply == "" {
				assert.Empty(t, replies)
				return
			}
			require.Len(t, replies, 1)
			r := replies[0]
			assert.Equal(t, tt.wantReply, r.typ)
			assert.Equal(t, tt.wantStatus, r.payload.Status)
			assert.Equal(t, tt.id, r.payload.RequestID)
			assert.Equal(t, "/ci/pipeline", r.payload.RequestSource)
			assert.Equal(t, events.Claim{Namespace: "vms", Name: "disk", UID: r.payload.Claim.UID}, r.payload.Claim)
			for _, e := range tt.wantErrors {
				assert.Contains(t, strings.Join(r.payload.Errors, "\n"), e, "the reply says why")
			}
			if tt.wantOutcome != "" {
				assert.Equal(t, int64(1), meter.Count(t, "cdi.requester.events", attribute.String("outcome", tt.wantOutcome)))
			}
		})
	}
}

func TestHandleCreatesTheSeedsClaim(t *testing.T) {
	kube := fake.NewClientset()
	rbac(kube)
	q, err := newRequester(kube, access.Reviewer(kube), func(context.Context, cloudevents.Event, string, string) error { return nil },
		functest.NewMeter(), func() time.Time { return testTime })
	require.NoError(t, err)
	srv := functest.Serve(t, "requester", q.Handle, tokens, nil)
	p := payload(withReplyTo("http://ci-events.vms.svc.cluster.local/"), func(p *events.VolumeRequestedPayload) {
		p.Source.Import.SecretName = "creds"
		p.StorageClassName = "local"
	})
	code, msg := srv.Send(t, ciToken, requested(t, "r1", p))
	require.Equal(t, http.StatusAccepted, code, msg)
	c, err := kube.CoreV1().PersistentVolumeClaims("vms").Get(context.Background(), "disk", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		annotations.Endpoint:      "http://images.example/disk.qcow2",
		annotations.SecretName:    "creds",
		annotations.RequestID:     "r1",
		annotations.RequestSource: "/ci/pipeline",
		annotations.RequestedBy:   ciUser,
		annotations.RequestDigest: p.Digest(),
		annotations.ReplyTo:       "http://ci-events.vms.svc.cluster.local/",
	}, c.Annotations, "the seed's annotations, and the request that made it")
	assert.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, c.Spec.AccessModes)
	assert.Equal(t, "1Gi", c.Spec.Resources.Requests.Storage().String())
	assert.Equal(t, "local", *c.Spec.StorageClassName)
}

func TestHandleAPITroubleIsRetried(t *testing.T) {
	kube := fake.NewClientset()
	rbac(kube)
	kube.PrependReactor("create", "persistentvolumeclaims", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcdserver: request timed out")
	})
	var replies int
	q, err := newRequester(kube, access.Reviewer(kube), func(context.Context, cloudevents.Event, string, string) error { replies++; return nil },
		functest.NewMeter(), func() time.Time { return testTime })
	require.NoError(t, err)
	srv := functest.Serve(t, "requester", q.Handle, tokens, nil)
	code, _ := srv.Send(t, ciToken, requested(t, "r1", payload()))
	assert.Equal(t, http.StatusInternalServerError, code, "the sender (or the Broker) sends again")
	assert.Zero(t, replies, "no reply before there is an answer")
}

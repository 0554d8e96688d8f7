package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/internal/kubetest"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/uploadproxy"
	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

const ns = gen.Namespace

// uploadClaim is an upload target named upload-pvc (UID uid-upload-pvc).
func uploadClaim(opts ...gen.ClaimOption) *corev1.PersistentVolumeClaim {
	return gen.Claim("upload-pvc", append([]gen.ClaimOption{gen.WithAnnotation(annotations.UploadTarget, "")}, opts...)...)
}

// scopeOf is the token scope of claim.
func scopeOf(c *corev1.PersistentVolumeClaim) uploadtoken.Scope {
	return uploadtoken.Scope{Operation: uploadtoken.OperationUpload, Namespace: c.Namespace, Name: c.Name, UID: string(c.UID)}
}

// uploadPod is claim's upload pod as pkg/datapod builds it, Ready at ip
// unless changed by opts.
func uploadPod(c *corev1.PersistentVolumeClaim, ip string, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := datapod.UploadPod(c, datapod.UploadSecretName(c.Name), datapod.Config{Image: "datamover"})
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func notReadyPod(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func noIP(p *corev1.Pod)        { p.Status.PodIP = "" }
func deleting(p *corev1.Pod)    { now := metav1.Unix(1700000000, 0); p.DeletionTimestamp = &now }
func otherClaims(p *corev1.Pod) {
	p.Labels[datapod.LabelClaimUID] = "uid-other"
	p.OwnerReferences[0].UID = "uid-other"
}
func importKind(p *corev1.Pod) { p.Labels[datapod.LabelKind] = datapod.KindImport }

// indexer holds objs as an informer's cache would.
func indexer(t *testing.T, objs ...runtime.Object) cache.Indexer {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range objs {
		require.NoError(t, idx.Add(o))
	}
	return idx
}

func TestLocate(t *testing.T) {
	authority, err := podcred.New(time.Now())
	require.NoError(t, err)
	claim := uploadClaim()
	recreated := uploadClaim(gen.WithUID("uid-recreated"))
	getClaim := "get persistentvolumeclaims " + ns + "/upload-pvc"

	tests := []struct {
		name string
		// cached claims and pods (the informers'), and the API server's
		// objects.
		cached, pods, api []runtime.Object
		scope             uploadtoken.Scope
		noAuthority       bool
		wantErr           error
		wantURL           string
		wantActions       []string
	}{{
		name: "ready", cached: []runtime.Object{claim}, pods: []runtime.Object{uploadPod(claim, "10.244.0.17")},
		scope: scopeOf(claim), wantURL: "https://10.244.0.17:8443",
	}, {
		name: "ready on IPv6", cached: []runtime.Object{claim}, pods: []runtime.Object{uploadPod(claim, "fd00::17")},
		scope: scopeOf(claim), wantURL: "https://[fd00::17]:8443",
	}, {
		name: "a claim not cached yet is read from the API server", api: []runtime.Object{claim},
		pods: []runtime.Object{uploadPod(claim, "10.244.0.17")}, scope: scopeOf(claim),
		wantURL: "https://10.244.0.17:8443", wantActions: []string{getClaim},
	}, {
		name: "no claim", scope: scopeOf(claim), wantErr: uploadproxy.ErrNoTarget, wantActions: []string{getClaim},
	}, {
		name: "not an upload target", cached: []runtime.Object{gen.Claim("upload-pvc")}, api: []runtime.Object{gen.Claim("upload-pvc")},
		scope: scopeOf(claim), wantErr: uploadproxy.ErrNoTarget,
	}, {
		name: "being deleted", cached: []runtime.Object{uploadClaim(gen.Deleting())},
		scope: scopeOf(claim), wantErr: uploadproxy.ErrNoTarget,
	}, {
		name: "a token of an earlier claim of the name", cached: []runtime.Object{recreated}, api: []runtime.Object{recreated},
		scope: scopeOf(claim), wantErr: uploadproxy.ErrStale, wantActions: []string{getClaim},
	}, {
		name: "the cache still holds the earlier claim", cached: []runtime.Object{claim}, api: []runtime.Object{recreated},
		pods: []runtime.Object{uploadPod(recreated, "10.244.0.18")}, scope: scopeOf(recreated),
		wantURL: "https://10.244.0.18:8443", wantActions: []string{getClaim},
	}, {
		name: "already uploaded", cached: []runtime.Object{uploadClaim(gen.WithAnnotation(annotations.PodPhase, annotations.PhaseSucceeded))},
		pods: []runtime.Object{uploadPod(claim, "10.244.0.17")}, scope: scopeOf(claim), wantErr: uploadproxy.ErrDone,
	}, {
		name: "uploading (Running) is not done", cached: []runtime.Object{uploadClaim(gen.WithAnnotation(annotations.PodPhase, annotations.PhaseRunning))},
		pods: []runtime.Object{uploadPod(claim, "10.244.0.17")}, scope: scopeOf(claim), wantURL: "https://10.244.0.17:8443",
	}, {
		name: "no pod yet", cached: []runtime.Object{claim}, scope: scopeOf(claim), wantErr: uploadproxy.ErrNotReady,
	}, {
		name: "pod not Ready", cached: []runtime.Object{claim}, pods: []runtime.Object{uploadPod(claim, "10.244.0.17", notReadyPod)},
		scope: scopeOf(claim), wantErr: uploadproxy.ErrNotReady,
	}, {
		name: "pod without IP", cached: []runtime.Object{claim}, pods: []runtime.Object{uploadPod(claim, "10.244.0.17", noIP)},
		scope: scopeOf(claim), wantErr: uploadproxy.ErrNotReady,
	}, {
		name: "pod being deleted", cached: []runtime.Object{claim}, pods: []runtime.Object{uploadPod(claim, "10.244.0.17", deleting)},
		scope: scopeOf(claim), wantErr: uploadproxy.ErrNotReady,
	}, {
		name: "pod of another claim", cached: []runtime.Object{claim}, pods: []runtime.Object{uploadPod(claim, "10.244.0.17", otherClaims)},
		scope: scopeOf(claim), wantErr: uploadproxy.ErrNotReady,
	}, {
		name: "not an upload pod", cached: []runtime.Object{claim}, pods: []runtime.Object{uploadPod(claim, "10.244.0.17", importKind)},
		scope: scopeOf(claim), wantErr: uploadproxy.ErrNotReady,
	}, {
		name: "no authority yet", cached: []runtime.Object{claim}, pods: []runtime.Object{uploadPod(claim, "10.244.0.17")},
		scope: scopeOf(claim), noAuthority: true, wantErr: uploadproxy.ErrNotReady,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kube := fake.NewClientset(tt.api...)
			l := &Locator{
				Claims: corev1listers.NewPersistentVolumeClaimLister(indexer(t, tt.cached...)),
				Pods:   corev1listers.NewPodLister(indexer(t, tt.pods...)),
				Kube:   kube,
				Authority: func() *podcred.Authority {
					if tt.noAuthority {
						return nil
					}
					return authority
				},
			}
			be, err := l.Locate(context.Background(), tt.scope)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				for _, other := range []error{uploadproxy.ErrNoTarget, uploadproxy.ErrStale, uploadproxy.ErrDone, uploadproxy.ErrNotReady} {
					if !errors.Is(tt.wantErr, other) {
						assert.NotErrorIs(t, err, other)
					}
				}
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.wantURL, be.URL)
				assert.Equal(t, authority.Credential(tt.scope.UID), be.Credential, "the pod's own credential")
				require.NotNil(t, be.TLS)
				assert.Equal(t, podcred.ServerName(tt.scope.UID), be.TLS.ServerName, "only the claim's pod certificate is accepted")
			}
			kubetest.Expect(t, kube, tt.wantActions...)
		})
	}
}

func TestCheckClaimNamesTheProblem(t *testing.T) {
	err := checkClaim(gen.Claim("upload-pvc"), scopeOf(uploadClaim()))
	assert.ErrorContains(t, err, annotations.UploadTarget)
	assert.ErrorContains(t, err, ns+"/upload-pvc")
}

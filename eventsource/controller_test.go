package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	fakekubeclient "knative.dev/pkg/client/injection/kube/client/fake"
	_ "knative.dev/pkg/client/injection/kube/informers/core/v1/persistentvolumeclaim/fake"
	_ "knative.dev/pkg/client/injection/kube/informers/core/v1/pod/filtered/fake"
	filteredfactory "knative.dev/pkg/client/injection/kube/informers/factory/filtered"
	_ "knative.dev/pkg/client/injection/kube/informers/factory/filtered/fake"
	"knative.dev/pkg/configmap"
	rtesting "knative.dev/pkg/reconciler/testing"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// ceSink is an HTTP CloudEvents sink on loopback that records the type,
// subject and id of what it receives (binary mode headers) from a sender
// presenting the event source's token.
type ceSink struct {
	*httptest.Server
	mu  sync.Mutex
	got []string
}

func newCESink(t *testing.T) *ceSink {
	s := &ceSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer event-source-token" {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, r.Header.Get("Ce-Type")+" "+r.Header.Get("Ce-Subject"))
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *ceSink) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// TestController runs the wired controller on fake injected clients and
// informers, with K_SINK pointing at a loopback sink.
func TestController(t *testing.T) {
	sink := newCESink(t)
	t.Setenv(events.SinkEnv, sink.URL)
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("event-source-token\n"), 0o600))
	t.Setenv(envTokenFile, tokenFile)

	ctx, cancel, informers := rtesting.SetupFakeContextWithCancel(t, func(ctx context.Context) context.Context {
		return filteredfactory.WithSelectors(ctx, datapod.Selector)
	})
	defer cancel()
	kc := fakekubeclient.Get(ctx)
	for _, c := range []*corev1.PersistentVolumeClaim{
		gen.Claim("existing", gen.WithEndpoint(imageURL)),
		gen.Claim("done", gen.WithEndpoint(imageURL), gen.WithPhase("Succeeded")),
		gen.Claim("plain"),
	} {
		_, err := kc.CoreV1().PersistentVolumeClaims(c.Namespace).Create(ctx, c, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	impl := NewController(ctx, configmap.NewStaticWatcher())
	waitInformers, err := rtesting.RunAndSyncInformers(ctx, informers...)
	require.NoError(t, err)
	defer waitInformers()
	done := make(chan error, 1)
	go func() { done <- impl.RunContext(ctx, 2) }()
	defer func() { cancel(); <-done }()

	wantImport := events.ImportRequested + " " + gen.Namespace + "/existing"
	require.Eventually(t, func() bool { return len(sink.received()) == 1 }, 10*time.Second, 10*time.Millisecond,
		"a claim that existed before the source started gets its import request")
	assert.Equal(t, []string{wantImport}, sink.received())

	// The importer creates the data pod: its phase is reported. A pod
	// that is not a data pod is not even seen.
	_, err = kc.CoreV1().Pods(gen.Namespace).Create(ctx, gen.DataPod(gen.Claim("existing")), metav1.CreateOptions{})
	require.NoError(t, err)
	other := gen.DataPod(gen.Claim("plain"))
	other.Name, other.Labels = "unrelated", map[string]string{"app": "web"}
	_, err = kc.CoreV1().Pods(gen.Namespace).Create(ctx, other, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(sink.received()) == 2 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, events.DataPodPhase+" "+gen.Namespace+"/existing", sink.received()[1])

	// A new claim is requested at once. (That a status update of it is no
	// new request is TestReconcileStatusOnlyUpdate's: here a test could only
	// wait and see.)
	c := gen.Claim("new", gen.WithEndpoint(imageURL))
	_, err = kc.CoreV1().PersistentVolumeClaims(gen.Namespace).Create(ctx, c, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(sink.received()) == 3 }, 10*time.Second, 10*time.Millisecond)

	// The claim is deleted while its data pod runs: the pod must go.
	_, err = kc.CoreV1().Pods(gen.Namespace).Create(ctx, gen.DataPod(c), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(sink.received()) == 4 }, 10*time.Second, 10*time.Millisecond)
	gen.Deleting()(c)
	_, err = kc.CoreV1().PersistentVolumeClaims(gen.Namespace).Update(ctx, c, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(sink.received()) == 5 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, events.ClaimDeleting+" "+gen.Namespace+"/new", sink.received()[4])
}

// TestEnqueueClonesOf: a change of a claim derives the claims that clone
// it again, and nothing else.
func TestEnqueueClonesOf(t *testing.T) {
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{indexCloneSource: cloneSources})
	for _, c := range []*corev1.PersistentVolumeClaim{
		gen.Claim("a", gen.InNamespace("vms"), gen.WithCloneRequest("golden/golden-pvc")),
		gen.Claim("b", gen.InNamespace("other"), gen.WithCloneRequest("golden/golden-pvc")),
		gen.Claim("c", gen.InNamespace("vms"), gen.WithCloneRequest("golden/other")),
		gen.Claim("d", gen.InNamespace("vms"), gen.WithCloneRequest("not-a-name")),
		gen.Claim("e", gen.InNamespace("vms"), gen.WithCloneRequest("golden/golden-pvc"), gen.WithPhase(annotations.PhaseSucceeded)),
		gen.Claim("golden-pvc", gen.InNamespace("golden")),
	} {
		require.NoError(t, indexer.Add(c))
	}
	var got, forgot []string
	enqueue := func(k types.NamespacedName) { got = append(got, k.String()) }
	forget := func(subject string) { forgot = append(forgot, subject) }
	enqueueClonesOf(indexer, forget, enqueue, gen.Claim("golden-pvc", gen.InNamespace("golden")))
	assert.ElementsMatch(t, []string{"vms/a", "other/b"}, got, "unfinished clones of golden-pvc")
	assert.ElementsMatch(t, []string{"clone/uid-a", "clone/uid-b"}, forgot, "their requests are due now")
	got = nil
	enqueueClonesOf(indexer, forget, enqueue, cache.DeletedFinalStateUnknown{Obj: gen.Claim("other", gen.InNamespace("golden"))})
	assert.Equal(t, []string{"vms/c"}, got)
}

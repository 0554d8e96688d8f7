//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/source/sourcetest"
)

// testSecretCreatedLater: a claim naming a Secret that does not exist yet
// waits Pending, saying what it waits for; created 60 s later, the import
// starts within 35 s and succeeds.
func testSecretCreatedLater(t *testing.T, im *images) {
	t.Parallel()
	ns := restrictedNamespace(t)
	srv := serve(t, sourcetest.Config{Data: im.file(t, "disk.qcow2"), User: "cdi", Password: "s3cret"})
	created := time.Now()
	createClaim(t, ns, importClaim("late", "64Mi", srv.URL+"/disk.qcow2", withAnnotation(annotations.SecretName, "late-secret")))

	msg := waitEvent(t, ns, "late", reason.MissingSecret, "late-secret")
	assert.Contains(t, msg, "does not exist")
	eventually(t, time.Minute, "claim Pending with the reason", func(ctx context.Context) (bool, error) {
		c, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "late", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := annotations.StatusOf(c.Annotations)
		return s.Phase == annotations.PhasePending && s.Reason == reason.MissingSecret, nil
	})
	assert.Empty(t, dataPodsOf(t, ns), "no data pod while the Secret is missing")

	// The user creates the Secret a minute after the claim.
	<-time.After(time.Until(created.Add(60 * time.Second)))
	appeared := time.Now()
	createSecret(t, ns, "late-secret", "cdi", "s3cret")
	eventually(t, 35*time.Second, "the import to start within 35 s of the Secret", func(ctx context.Context) (bool, error) {
		return len(dataPodsOf(t, ns)) > 0, nil
	})
	t.Logf("data pod %s after the Secret appeared", timeSince(appeared))
	requireSucceeded(t, waitFinal(t, ns, "late"), im.raw)
}

// testQuotaOfOnePod: with a ResourceQuota of one pod, three claims wait
// their turn (Pending with the API server's message) and all succeed, one
// after another.
func testQuotaOfOnePod(t *testing.T, im *images) {
	t.Parallel()
	ns := restrictedNamespace(t)
	_, err := e2e.client.CoreV1().ResourceQuotas(ns).Create(context.Background(), &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "one-pod"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	eventually(t, time.Minute, "the quota to be counted", func(ctx context.Context) (bool, error) {
		q, err := e2e.client.CoreV1().ResourceQuotas(ns).Get(ctx, "one-pod", metav1.GetOptions{})
		return err == nil && q.Status.Hard != nil, err
	})
	url := slowServer(t, im.raw, 8<<20)
	for _, name := range []string{"q1", "q2", "q3"} {
		createClaim(t, ns, importClaim(name, "64Mi", url))
	}
	waitEvent(t, ns, "", reason.CreatePod, "exceeded quota")
	var wg sync.WaitGroup
	for _, name := range []string{"q1", "q2", "q3"} {
		wg.Go(func() { requireSucceeded(t, waitFinal(t, ns, name), im.raw) })
	}
	wg.Wait()
}

// testClaimDeletedMidImport: a claim deleted (background propagation)
// while its import runs is gone within 30 s, its data pod with it.
func testClaimDeletedMidImport(t *testing.T, im *images) {
	t.Parallel()
	ns := restrictedNamespace(t)
	url := slowServer(t, im.raw, 256<<10) // ~100 s for 24 MiB
	createClaim(t, ns, importClaim("doomed", "64Mi", url))
	waitDataPodRunning(t, ns, "doomed")
	waitProgress(t, ns, "doomed")
	deleteClaimWithin(t, ns, "doomed", 30*time.Second)
}

// testClaimDeletedWhileCrashLooping: a claim whose data pod keeps failing
// (a server that only answers 503) is deleted: gone within 30 s.
func testClaimDeletedWhileCrashLooping(t *testing.T) {
	t.Parallel()
	ns := restrictedNamespace(t)
	l, err := net.Listen("tcp", gateway+":0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	createClaim(t, ns, importClaim("looping", "64Mi", "http://"+l.Addr().String()+"/disk.img"))
	eventually(t, 4*time.Minute, "the data pod to fail and restart", func(ctx context.Context) (bool, error) {
		p, err := e2e.client.CoreV1().Pods(ns).Get(ctx, datapod.ImportPodName("looping"), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount > 0 {
				return true, nil
			}
		}
		return false, nil
	})
	deleteClaimWithin(t, ns, "looping", 30*time.Second)
}

// deleteClaimWithin deletes the claim with background propagation and
// fails unless it and its data pods are gone within limit.
func deleteClaimWithin(t *testing.T, ns, name string, limit time.Duration) {
	t.Helper()
	background := metav1.DeletePropagationBackground
	start := time.Now()
	require.NoError(t, e2e.client.CoreV1().PersistentVolumeClaims(ns).Delete(context.Background(), name,
		metav1.DeleteOptions{PropagationPolicy: &background}))
	waitGone(t, limit, "claim "+name, func(ctx context.Context) error {
		_, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		return err
	})
	t.Logf("claim %s gone %s after its deletion", name, timeSince(start))
	waitGone(t, limit, "data pod of "+name, func(ctx context.Context) error {
		_, err := e2e.client.CoreV1().Pods(ns).Get(ctx, datapod.ImportPodName(name), metav1.GetOptions{})
		return err
	})
}

// testInvalidRequests: every request annotation is checked before any pod
// exists; a bad one ends Failed with an Event naming the annotation.
func testInvalidRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, endpoint string
		opts           []claimOpt
		want           string
	}{
		{"bad-checksum", "http://images.example/disk.img", []claimOpt{withAnnotation(annotations.Checksum, "sha256:not-hex")},
			"annotation " + annotations.Checksum},
		{"bad-secret-name", "http://images.example/disk.img", []claimOpt{withAnnotation(annotations.SecretName, "Not_A_Name")},
			"annotation " + annotations.SecretName},
		{"credentials-in-url", "https://admin:hunter2@images.example/disk.img", nil,
			"credentials in the URL are not accepted"},
		{"cloud-metadata", "http://169.254.169.254/latest/meta-data/", nil,
			"169.254.169.254"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := restrictedNamespace(t)
			createClaim(t, ns, importClaim(tt.name, "64Mi", tt.endpoint, tt.opts...))
			c := waitFinal(t, ns, tt.name)
			requireFailedWithEvent(t, c, tt.want)
			assert.NotContains(t, fmt.Sprint(c.Annotations[annotations.Message]), "hunter2", "credentials are never repeated")
			assert.Empty(t, dataPodsOf(t, ns), "no data pod for an invalid request")
			for _, e := range eventsOn(t, ns, tt.name) {
				assert.NotContains(t, e.Message, "hunter2")
			}
		})
	}
}

// eventsOn lists the Events on the object named name.
func eventsOn(t *testing.T, ns, name string) []corev1.Event {
	t.Helper()
	evs, err := e2e.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	require.NoError(t, err)
	return evs.Items
}

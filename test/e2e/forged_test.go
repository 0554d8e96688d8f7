//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

// testForgedEvents plays the attacker against two imports running in a
// victim namespace: events with no token, a token for the API server, the
// attacker's own pod's token, the token of the victim's other data pod, an
// expired and a tampered token of the victim's own data pod. Every one is
// refused (401 or 403), nothing changes, and both imports end Succeeded,
// byte-exact, with their first data pods.
func testForgedEvents(t *testing.T, im *images) {
	t.Parallel()
	ctx := context.Background()
	victims := restrictedNamespace(t)
	attackers := newNamespace(t)
	url := slowServer(t, im.raw, 2<<20) // ~12 s for 24 MiB
	uids := watchDataPods(t, victims)
	createClaim(t, victims, importClaim("victim", "64Mi", url))
	createClaim(t, victims, importClaim("bystander", "64Mi", url))
	victimPod := waitDataPodRunning(t, victims, "victim")
	bystanderPod := waitDataPodRunning(t, victims, "bystander")
	victim, err := e2e.client.CoreV1().PersistentVolumeClaims(victims).Get(ctx, "victim", metav1.GetOptions{})
	require.NoError(t, err)

	attacker := volcheckPod("attacker", "serve", ":8080", "x")
	_, err = e2e.client.CoreV1().Pods(attackers).Create(ctx, attacker, metav1.CreateOptions{})
	require.NoError(t, err)
	waitRunningReady(t, attackers, "attacker")
	attacker, err = e2e.client.CoreV1().Pods(attackers).Get(ctx, "attacker", metav1.GetOptions{})
	require.NoError(t, err)

	claimRef := events.Claim{Namespace: victims, Name: "victim", UID: string(victim.UID)}
	podRef := func(p *corev1.Pod) events.Pod { return events.Pod{Name: p.Name, UID: string(p.UID)} }
	phase := func(pod events.Pod, phase string, permanent bool) cloudevents.Event {
		e, err := events.NewDataPodPhase(events.DataPodPhasePayload{Claim: claimRef, Pod: pod, Phase: phase,
			Reason: reason.ImportSucceeded, Message: "forged", Permanent: permanent}, time.Now())
		require.NoError(t, err)
		return e
	}
	progress := func(pod events.Pod) cloudevents.Event {
		e, err := events.NewDataPodProgress(events.DataPodProgressPayload{Claim: claimRef, Pod: pod, Stage: "Writing", Done: 1, Total: 1 << 40}, time.Now())
		require.NoError(t, err)
		return e
	}
	request := func() cloudevents.Event {
		e, err := events.NewImportRequested(events.ImportRequestedPayload{Claim: claimRef,
			Request: annotations.ImportRequest{Endpoint: "http://attacker.example/evil.img", ContentType: annotations.ContentTypeKubeVirt}}, time.Now())
		require.NoError(t, err)
		return e
	}
	deleting := func() cloudevents.Event {
		e, err := events.NewClaimDeleting(events.ClaimDeletingPayload{Claim: claimRef, Pods: []events.Pod{podRef(victimPod)}}, time.Now())
		require.NoError(t, err)
		return e
	}
	valid := podToken(t, victimPod, auth.Audience)
	tampered := valid[:len(valid)-4] + map[bool]string{true: "AAAA", false: "BBBB"}[valid[len(valid)-4:] != "AAAA"]

	clone := func() cloudevents.Event {
		e, err := events.NewCloneRequested(events.CloneRequestedPayload{Claim: claimRef,
			Source: annotations.CloneSource{Namespace: "kube-system", Name: "secrets"}}, time.Now())
		require.NoError(t, err)
		return e
	}
	updater, importer, cloner := serviceURL(t, "cdi-updater"), serviceURL(t, "cdi-importer"), serviceURL(t, "cdi-cloner")
	tests := []struct {
		name     string
		url      string
		token    string
		event    cloudevents.Event
		wantCode int
	}{
		{"no token: Succeeded", updater, "", phase(podRef(victimPod), events.PodSucceeded, false), http.StatusUnauthorized},
		{"no token: Failed for good", updater, "", phase(podRef(victimPod), events.PodFailed, true), http.StatusUnauthorized},
		{"a token for the API server", updater, podToken(t, attacker, "https://kubernetes.default.svc.cluster.local"),
			phase(podRef(attacker), events.PodSucceeded, false), http.StatusUnauthorized},
		{"the attacker's pod as itself", updater, podToken(t, attacker, auth.Audience),
			phase(podRef(attacker), events.PodSucceeded, false), http.StatusForbidden},
		{"the attacker's pod naming the victim's pod", updater, podToken(t, attacker, auth.Audience),
			phase(podRef(victimPod), events.PodFailed, true), http.StatusForbidden},
		{"the right namespace's other data pod", updater, podToken(t, bystanderPod, auth.Audience),
			phase(podRef(bystanderPod), events.PodSucceeded, false), http.StatusForbidden},
		{"an expired token of the victim's own data pod", updater, signedPodToken(t, victimPod, time.Now().Add(-2*time.Hour), time.Hour),
			phase(podRef(victimPod), events.PodSucceeded, false), http.StatusUnauthorized},
		{"a tampered token of the victim's own data pod", updater, tampered,
			phase(podRef(victimPod), events.PodSucceeded, false), http.StatusUnauthorized},
		{"an import request without a token", importer, "", request(), http.StatusUnauthorized},
		{"an import request from a data pod", importer, podToken(t, bystanderPod, auth.Audience), request(), http.StatusForbidden},
		{"a clone request without a token", cloner, "", clone(), http.StatusUnauthorized},
		{"a clone request from the attacker's pod", cloner, podToken(t, attacker, auth.Audience), clone(), http.StatusForbidden},
		{"a clone request with an expired token", cloner, signedPodToken(t, victimPod, time.Now().Add(-2*time.Hour), time.Hour), clone(),
			http.StatusUnauthorized},
		{"a deletion request from the attacker", updater, podToken(t, attacker, auth.Audience), deleting(), http.StatusForbidden},
		// Positive controls: the very same tokens, rightly used, pass, so
		// the refusals above are the refusals of the forgeries.
		{"control: the victim's data pod reports its own progress", updater, valid, progress(podRef(victimPod)), http.StatusAccepted},
		{"control: a freshly signed token of the victim's pod", updater, signedPodToken(t, victimPod, time.Now().Add(-time.Minute), 10*time.Minute),
			progress(podRef(victimPod)), http.StatusAccepted},
	}
	for _, tt := range tests {
		code, answer := post(t, tt.url, tt.token, tt.event)
		assert.Equal(t, tt.wantCode, code, "%s: %s", tt.name, answer)
		if tt.token != "" {
			assert.NotContains(t, answer, tt.token, "%s: the answer never repeats the token", tt.name)
		}
	}

	c, err := e2e.client.CoreV1().PersistentVolumeClaims(victims).Get(ctx, "victim", metav1.GetOptions{})
	require.NoError(t, err)
	assert.False(t, annotations.Final(c.Annotations[annotations.PodPhase]), "no forged event finished the import: %v", c.Annotations)
	p, err := e2e.client.CoreV1().Pods(victims).Get(ctx, victimPod.Name, metav1.GetOptions{})
	require.NoError(t, err, "the victim's data pod was not deleted")
	assert.Equal(t, victimPod.UID, p.UID)

	requireSucceeded(t, waitFinal(t, victims, "victim"), im.raw)
	requireSucceeded(t, waitFinal(t, victims, "bystander"), im.raw)
	assert.Len(t, uids(), 2, "each import kept its one data pod")
	assert.Empty(t, eventsWithMessage(t, victims, "forged"), "no forged message reached the claims")
}

// eventsWithMessage lists the Events in ns whose message is msg.
func eventsWithMessage(t *testing.T, ns, msg string) []corev1.Event {
	t.Helper()
	evs, err := e2e.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []corev1.Event
	for _, e := range evs.Items {
		if e.Message == msg {
			out = append(out, e)
		}
	}
	return out
}

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

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// testExternalRequests plays a CI pipeline that asks for volumes with
// volume.requested events, as docs/events.md shows: its ServiceAccount
// token (audience cdi-functions) in the event, the requester's Service as
// the target, replies to a Service of its namespace. An import and a
// clone end Succeeded byte-exact with succeeded replies; the same request
// again finds the same claim; a changed request under the same id is 409;
// an invalid one is 400 with every reason; anonymous, foreign-audience and
// unauthorized senders create nothing.
func testExternalRequests(t *testing.T, im *images, url string) {
	t.Parallel()
	ns := uploadNamespace(t)
	golden := uploadNamespace(t)
	importGolden(t, golden, "golden", "64Mi", url, im.raw)

	pipeline := serviceAccountUser(t, ns, "pipeline")
	bind(t, ns, pipeline, "ClusterRole", "edit")
	bind(t, golden, pipeline, "ClusterRole", "cdi.kubevirt.io:clone-sourcer")
	token := serviceAccountToken(t, ns, "pipeline", auth.Audience)
	outsiders := uploadNamespace(t)
	outsider := serviceAccountToken(t, outsiders, "default", auth.Audience)

	replies := replyReceiver(t, ns, "ci-events")
	replyTo := fmt.Sprintf("http://ci-events.%s.svc.cluster.local/", ns)
	requester := serviceURL(t, "cdi-requester")
	req := func(id string, p events.VolumeRequestedPayload) cloudevents.Event {
		e, err := events.NewVolumeRequested(id, "/e2e/pipeline", p, time.Now())
		require.NoError(t, err)
		return e
	}
	imp := events.VolumeRequestedPayload{Claim: events.ClaimRef{Namespace: ns, Name: "disk"}, Size: "64Mi", ReplyTo: replyTo,
		Source: events.VolumeSource{Import: &events.ImportSource{Endpoint: url}}}
	clone := events.VolumeRequestedPayload{Claim: events.ClaimRef{Namespace: ns, Name: "copy"}, Size: "64Mi", ReplyTo: replyTo,
		Source: events.VolumeSource{Clone: &annotations.CloneSource{Namespace: golden, Name: "golden"}}}
	bigger := imp
	bigger.Size = "128Mi"
	invalid := events.VolumeRequestedPayload{Claim: events.ClaimRef{Namespace: ns, Name: "Not_A_Name"}, Size: "lots",
		Source: events.VolumeSource{Import: &events.ImportSource{Endpoint: "file:///etc/shadow"}}}
	stolen := imp
	stolen.Claim.Name = "stolen"

	tests := []struct {
		name      string
		token     string
		event     cloudevents.Event
		wantCode  int
		wantInMsg []string
	}{
		{"an import", token, req("build-1", imp), http.StatusAccepted, nil},
		{"the same request again", token, req("build-1", imp), http.StatusAccepted, nil},
		{"a clone from a namespace it may clone from", token, req("build-2", clone), http.StatusAccepted, nil},
		{"the same id asking something else", token, req("build-1", bigger), http.StatusConflict, []string{"asking something else"}},
		{"another request for a taken claim", token, req("build-3", imp), http.StatusConflict, []string{"made by another request"}},
		{"an invalid request: every reason", token, req("build-4", invalid), http.StatusBadRequest,
			[]string{"claim.name:", "size:", "source.import.endpoint:"}},
		{"anonymous", "", req("evil-1", stolen), http.StatusUnauthorized, nil},
		{"a token for the API server", serviceAccountToken(t, ns, "pipeline", "https://kubernetes.default.svc.cluster.local"),
			req("evil-2", stolen), http.StatusUnauthorized, nil},
		{"a ServiceAccount of another namespace", outsider, req("evil-3", stolen), http.StatusForbidden,
			[]string{"may not create persistentvolumeclaims in namespace " + ns}},
	}
	for _, tt := range tests {
		code, msg := post(t, requester, tt.token, tt.event)
		assert.Equal(t, tt.wantCode, code, "%s: %s", tt.name, msg)
		for _, m := range tt.wantInMsg {
			assert.Contains(t, msg, m, tt.name)
		}
	}
	// The token only in the event, as through a Broker: the same answer.
	code, msg := post(t, requester, "", withToken(req("build-1", imp), token))
	assert.Equal(t, http.StatusAccepted, code, "the token in the authtoken extension: %s", msg)

	requireSucceeded(t, waitFinal(t, ns, "disk"), im.raw)
	requireCloned(t, ns, "copy", im.raw)
	disk := requireRequestedClaims(t, ns, outsiders, pipeline)
	eventually(t, time.Minute, "the succeeded replies", func(context.Context) (bool, error) {
		return replies.count(events.VolumeSucceeded, "build-1") == 1 && replies.count(events.VolumeSucceeded, "build-2") == 1, nil
	})
	assert.Equal(t, 3, replies.count(events.VolumeAccepted, "build-1"), "accepted each time build-1 came (the same reply id)")
	assert.Equal(t, 1, replies.count(events.VolumeRejected, "build-1"), "rejected once: the changed request")
	assert.Equal(t, 1, replies.count(events.VolumeRejected, "build-3"))
	assert.Zero(t, replies.count(events.VolumeRejected, "build-4"), "an invalid request's replyTo is never called")
	assert.Zero(t, replies.count(events.VolumeRejected, "evil-3"), "nor an unauthorized sender's")
	succeeded := replies.get(events.VolumeSucceeded, "build-1")
	assert.Equal(t, string(disk.UID), succeeded.Claim.UID)
	assert.Equal(t, "ImportSucceeded", succeeded.Reason)
}

// requireRequestedClaims checks that ns holds the two requested claims
// (disk, made on pipeline's behalf, and copy) and that no forged request
// made "stolen" in ns or outsiders; it returns disk.
func requireRequestedClaims(t *testing.T, ns, outsiders, pipeline string) *corev1.PersistentVolumeClaim {
	t.Helper()
	ctx := context.Background()
	claims, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, claims.Items, 2, "one claim per request, none for the refused ones")
	for _, ns := range []string{ns, outsiders} {
		_, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "stolen", metav1.GetOptions{})
		assert.Error(t, err, "no forged request created a claim in %s", ns)
	}
	disk, err := e2e.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "disk", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, pipeline, disk.Annotations[annotations.RequestedBy])
	return disk
}

// serviceAccountUser creates the ServiceAccount ns/name and returns its
// user name.
func serviceAccountUser(t *testing.T, ns, name string) string {
	t.Helper()
	_, err := e2e.client.CoreV1().ServiceAccounts(ns).Create(context.Background(),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return auth.ServiceAccountUser(ns, name)
}

// serviceAccountToken is a token of ns/name for audience, not bound to a
// pod: what an external system is given.
func serviceAccountToken(t *testing.T, ns, name, audience string) string {
	t.Helper()
	tr, err := e2e.client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: ptrTo[int64](600)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tr.Status.Token
}

// withToken puts token in e's authtoken extension.
func withToken(e cloudevents.Event, token string) cloudevents.Event {
	e.SetExtension(auth.TokenExtension, token)
	return e
}

// replies collects the reply events a test's Service receives.
type replies struct {
	mu  sync.Mutex
	got []cloudevents.Event
}

func (r *replies) count(typ, id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.got {
		if e.Type() == typ && e.Extensions()[events.ExtensionRequestID] == id {
			n++
		}
	}
	return n
}

// distinctIDs is the number of different event ids among the replies of
// type typ to request id.
func (r *replies) distinctIDs(typ, id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, e := range r.got {
		if e.Type() == typ && e.Extensions()[events.ExtensionRequestID] == id {
			seen[e.ID()] = true
		}
	}
	return len(seen)
}

func (r *replies) get(typ, id string) events.VolumeReplyPayload {
	r.mu.Lock()
	defer r.mu.Unlock()
	var p events.VolumeReplyPayload
	for _, e := range r.got {
		if e.Type() == typ && e.Extensions()[events.ExtensionRequestID] == id {
			_ = e.DataAs(&p)
		}
	}
	return p
}

// replyReceiver serves CloudEvents on the gateway behind a Service name
// of ns without a selector (its EndpointSlice names the gateway), as a
// pipeline's event receiver would be.
func replyReceiver(t *testing.T, ns, name string) *replies {
	t.Helper()
	r := &replies{}
	p, err := cloudevents.NewHTTP()
	require.NoError(t, err)
	h, err := cloudevents.NewHTTPReceiveHandler(context.Background(), p, func(e cloudevents.Event) {
		assert.Empty(t, e.Extensions()[auth.TokenExtension], "replies carry no token")
		r.mu.Lock()
		r.got = append(r.got, e)
		r.mu.Unlock()
	})
	require.NoError(t, err)
	l, err := net.Listen("tcp", gateway+":0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "" {
			t.Errorf("a reply carried an Authorization header")
		}
		h.ServeHTTP(w, req)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := l.Addr().(*net.TCPAddr).Port

	ctx := context.Background()
	_, err = e2e.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt(port)}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = e2e.client.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{gateway}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: ptrTo(int32(port))}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return r
}

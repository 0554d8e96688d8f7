package events

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
)

var claim = Claim{Namespace: "default", Name: "golden-pvc", UID: "uid-1"}

func TestImportRequestedIDs(t *testing.T) {
	req := annotations.ImportRequest{Endpoint: "http://x/disk.img", ContentType: "kubevirt"}
	now := time.Unix(100, 0)
	a, err := NewImportRequested(ImportRequestedPayload{Claim: claim, Request: req}, now)
	require.NoError(t, err)
	b, err := NewImportRequested(ImportRequestedPayload{Claim: claim, Request: req}, now.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, a.ID(), b.ID(), "the same intent has the same id, whenever it is sent")

	other := req
	other.Endpoint = "http://x/other.img"
	c, err := NewImportRequested(ImportRequestedPayload{Claim: claim, Request: other}, now)
	require.NoError(t, err)
	assert.NotEqual(t, a.ID(), c.ID(), "another request is another intent")

	recreated := claim
	recreated.UID = "uid-2"
	d, err := NewImportRequested(ImportRequestedPayload{Claim: recreated, Request: req}, now)
	require.NoError(t, err)
	assert.NotEqual(t, a.ID(), d.ID(), "a re-created claim is another intent")

	assert.Equal(t, ImportRequested, a.Type())
	assert.Equal(t, "/apis/v1/namespaces/default/persistentvolumeclaims/golden-pvc", a.Source())
	assert.Equal(t, "default/golden-pvc", a.Subject())
	assert.Equal(t, "default", a.Extensions()[ExtensionNamespace])
	assert.Equal(t, "golden-pvc", a.Extensions()[ExtensionName])
	require.NoError(t, a.Validate())

	var got ImportRequestedPayload
	require.NoError(t, Decode(a, ImportRequested, &got))
	assert.Equal(t, req, got.Request)
	assert.ErrorContains(t, Decode(a, DataPodPhase, &got), "want")
}

func TestPhaseIDs(t *testing.T) {
	p := DataPodPhasePayload{Claim: claim, Pod: Pod{Name: "importer-golden-pvc", UID: "p1"}, Phase: PodRunning}
	a, _ := NewDataPodPhase(p, time.Now())
	b, _ := NewDataPodPhase(p, time.Now())
	assert.Equal(t, a.ID(), b.ID())
	p.Restarts = 1
	c, _ := NewDataPodPhase(p, time.Now())
	assert.NotEqual(t, a.ID(), c.ID(), "a restart is a new observation")
}

func TestParseRoutes(t *testing.T) {
	r, err := ParseRoutes(map[string]string{
		ImportRequested: "http://importer.cdi.svc.cluster.local",
		DataPodPhase:    " http://updater.cdi.svc.cluster.local/ ",
		"_example":      "anything",
	})
	require.NoError(t, err)
	u, err := r.URL(ImportRequested)
	require.NoError(t, err)
	assert.Equal(t, "http://importer.cdi.svc.cluster.local", u)
	_, err = r.URL(DataPodProgress)
	assert.ErrorContains(t, err, "no route for event type")

	_, err = ParseRoutes(map[string]string{"com.github.cdi-functions.import.requestd.v1": "http://x"})
	assert.ErrorContains(t, err, "not an event type")
	_, err = ParseRoutes(map[string]string{ImportRequested: "ftp://x"})
	assert.ErrorContains(t, err, "not an http(s) URL")

	sink := Routes{Sink: "http://broker", ByType: r.ByType}
	u, _ = sink.URL(DataPodProgress)
	assert.Equal(t, "http://broker", u, "K_SINK takes every event")
}

func TestSender(t *testing.T) {
	tests := []struct {
		name     string
		answers  []int
		wantErr  error
		wantHits int32
	}{
		{name: "accepted", answers: []int{202}, wantHits: 1},
		{name: "transient then accepted", answers: []int{503, 429, 200}, wantHits: 3},
		{name: "rejected for good", answers: []int{400}, wantErr: ErrRejected, wantHits: 1},
		{name: "down for good", answers: []int{503, 503, 503}, wantHits: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(hits.Add(1)) - 1
				w.WriteHeader(tt.answers[min(n, len(tt.answers)-1)])
			}))
			defer srv.Close()
			s, err := NewSender(func() Routes { return Routes{Sink: srv.URL} }, SenderOptions{Backoff: time.Millisecond, Tries: 3})
			require.NoError(t, err)
			e, err := NewImportRequested(ImportRequestedPayload{Claim: claim}, time.Now())
			require.NoError(t, err)
			err = s.Send(context.Background(), e)
			switch {
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
			case tt.answers[len(tt.answers)-1] >= 500:
				require.Error(t, err)
			default:
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantHits, hits.Load())
		})
	}
}

func TestSenderPresentsToken(t *testing.T) {
	var got, ext []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		ext = append(ext, r.Header.Get("Ce-Authtoken"))
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	tokens := []string{"t1", "t2"}
	s, err := NewSender(func() Routes { return Routes{Sink: srv.URL} }, SenderOptions{Token: func() (string, error) {
		t := tokens[0]
		tokens = tokens[1:]
		return t, nil
	}})
	require.NoError(t, err)
	e, err := NewImportRequested(ImportRequestedPayload{Claim: claim}, time.Now())
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), e))
	require.NoError(t, s.Send(context.Background(), e))
	assert.Equal(t, []string{"Bearer t1", "Bearer t2"}, got, "the current token on every request")
	assert.Equal(t, []string{"t1", "t2"}, ext, "and in the event, where it survives a Broker")

	failing, err := NewSender(func() Routes { return Routes{Sink: srv.URL} }, SenderOptions{Tries: 1,
		Token: func() (string, error) { return "", errors.New("no token file") }})
	require.NoError(t, err)
	assert.ErrorContains(t, failing.Send(context.Background(), e), "no token file")
	assert.Len(t, got, 2, "nothing sent without credentials")
}

func TestSenderThroughAnOIDCBroker(t *testing.T) {
	type seen struct{ authorization, extension string }
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, seen{r.Header.Get("Authorization"), r.Header.Get("Ce-Authtoken")})
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	own := func() (string, error) { return "own", nil }
	broker := func() (string, error) { return "broker", nil }
	tests := []struct {
		name string
		opts SenderOptions
		want seen
	}{
		{name: "own and sink token: the Broker's in the header, the own in the event", opts: SenderOptions{Token: own, SinkToken: broker}, want: seen{"Bearer broker", "own"}},
		{name: "sink token alone (a reply): no extension", opts: SenderOptions{SinkToken: broker}, want: seen{"Bearer broker", ""}},
		{name: "own token alone: both places", opts: SenderOptions{Token: own}, want: seen{"Bearer own", "own"}},
		{name: "neither", opts: SenderOptions{}, want: seen{}},
	}
	e, err := NewImportRequested(ImportRequestedPayload{Claim: claim}, time.Now())
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			s, err := NewSender(func() Routes { return Routes{Sink: srv.URL} }, tt.opts)
			require.NoError(t, err)
			require.NoError(t, s.Send(context.Background(), e))
			assert.Equal(t, []seen{tt.want}, got)
		})
	}

	failing, err := NewSender(func() Routes { return Routes{Sink: srv.URL} }, SenderOptions{Tries: 1, Token: own,
		SinkToken: func() (string, error) { return "", errors.New("no sink token file") }})
	require.NoError(t, err)
	got = nil
	assert.ErrorContains(t, failing.Send(context.Background(), e), "no sink token file")
	assert.Empty(t, got, "nothing sent without the sink's credentials")
}

func TestClaimCheck(t *testing.T) {
	assert.NoError(t, Claim{Namespace: "ns", Name: "c", UID: "u"}.Check())
	err := Claim{Name: "c"}.Check()
	require.Error(t, err)
	assert.Equal(t, "no claim namespace\nno claim uid", err.Error(), "every missing part, and only those")
}

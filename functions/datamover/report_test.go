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

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/events"

	"github.com/cdi-functions/cdi-functions/internal/tooltest"
)

// sink is a CloudEvents receiver that records what it gets.
type sink struct {
	mu  sync.Mutex
	got []cloudevents.Event
	url string
	// auth are the Authorization headers of the requests.
	auth []string
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	p, err := cloudevents.NewHTTP()
	require.NoError(t, err)
	h, err := cloudevents.NewHTTPReceiveHandler(context.Background(), p, func(e cloudevents.Event) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.got = append(s.got, e)
	})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *sink) authorizations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

func (s *sink) ofType(typ string) []cloudevents.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []cloudevents.Event
	for _, e := range s.got {
		if e.Type() == typ {
			out = append(out, e)
		}
	}
	return out
}

func TestImportReportsEvents(t *testing.T) {
	f := makeFixtures(t)
	tests := []struct {
		name          string
		source        string
		wantPhase     string
		wantPermanent bool
		wantCode      int
	}{
		{name: "success", source: filepath.Join(f.dir, "disk.qcow2.xz"), wantPhase: events.PodSucceeded, wantCode: exitOK},
		{name: "permanent failure", source: filepath.Join(f.dir, "disk.vmdk"), wantPhase: events.PodFailed, wantPermanent: true, wantCode: exitError},
		{name: "retryable failure", source: "http://127.0.0.1:1/disk.img", wantPhase: events.PodFailed, wantCode: exitRetryable},
	}
	tooltest.Sh(t, f.dir, "qemu-img convert -f raw -O vmdk disk.raw disk.vmdk")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t)
			target := t.TempDir()
			termLog := filepath.Join(t.TempDir(), "termination-log")
			token := filepath.Join(t.TempDir(), "token")
			require.NoError(t, os.WriteFile(token, []byte("projected-token\n"), 0o600))
			o := invocation{
				args: []string{"import", "--source", tt.source, "--target", target, "--scratch", t.TempDir(), "--max-retries", "1"},
				env: map[string]string{
					"K_SINK": s.url, "DATAMOVER_CLAIM_NAMESPACE": "default", "DATAMOVER_CLAIM_NAME": "golden-pvc",
					"DATAMOVER_CLAIM_UID": "uid-1", "DATAMOVER_POD_NAME": "importer-golden-pvc", "DATAMOVER_TERMINATION_LOG": termLog,
					"DATAMOVER_TOKEN_FILE": token,
				},
			}.run(t)
			require.Equal(t, tt.wantCode, o.code, o.stderr)

			phases := s.ofType(events.DataPodPhase)
			require.Len(t, phases, 1)
			var p events.DataPodPhasePayload
			require.NoError(t, events.Decode(phases[0], events.DataPodPhase, &p))
			assert.Equal(t, tt.wantPhase, p.Phase)
			assert.Equal(t, tt.wantPermanent, p.Permanent)
			assert.Equal(t, events.Claim{Namespace: "default", Name: "golden-pvc", UID: "uid-1"}, p.Claim)
			assert.Equal(t, "golden-pvc", phases[0].Extensions()[events.ExtensionName])
			for _, a := range s.authorizations() {
				assert.Equal(t, "Bearer projected-token", a, "every event presents the pod's token")
			}

			msg, err := os.ReadFile(termLog)
			if tt.wantCode == exitOK {
				assert.NotEmpty(t, s.ofType(events.DataPodProgress), "progress is reported")
				assert.ErrorIs(t, err, os.ErrNotExist)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, p.Message, string(msg), "the termination message is the error")
		})
	}
}

// TestReportGivesUpOnASinkThatHoldsTheRequest: a sink that never answers
// (a Broker's in-memory channel retrying a consumer that is down) delays
// the pod by at most the event timeout per event; the import's outcome
// stands, and its exit code still carries it.
func TestReportGivesUpOnASinkThatHoldsTheRequest(t *testing.T) {
	f := makeFixtures(t)
	release := make(chan struct{})
	held := make(chan struct{}, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held <- struct{}{}
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	done := make(chan outcome, 1)
	go func() {
		done <- invocation{
			args: []string{"import", "--source", filepath.Join(f.dir, "disk.raw"), "--target", t.TempDir(), "--scratch", t.TempDir(),
				"--event-timeout", "300ms"},
			env: map[string]string{"K_SINK": srv.URL, "DATAMOVER_CLAIM_NAMESPACE": "default", "DATAMOVER_CLAIM_NAME": "golden-pvc"},
		}.run(t)
	}()
	select {
	case o := <-done:
		assert.Equal(t, exitOK, o.code, o.stderr)
		assert.Contains(t, o.stderr, "warning: result event", "the undelivered result is reported on stderr")
		assert.NotEmpty(t, held, "the sink was asked")
	case <-time.After(30 * time.Second):
		t.Fatal("the data mover still waits for a sink that holds its requests")
	}
}

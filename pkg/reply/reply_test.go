package reply

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/pkg/events"
)

func TestCheckTarget(t *testing.T) {
	for _, tt := range []struct {
		url, namespace string
		wantErr        string
	}{
		{"http://ci-events.vms.svc.cluster.local/replies", "vms", ""},
		{"https://ci-events.vms.svc:8443", "vms", ""},
		{"http://ci-events.VMS.svc.cluster.local.", "vms", ""},
		{"http://ci-events.other.svc.cluster.local", "vms", "a Service of namespace vms"},
		{"http://ci-events.vms.svc.evil.example", "vms", "a Service of namespace vms"},
		{"http://169.254.169.254/latest", "vms", "a Service of namespace vms"},
		{"http://localhost:8080", "vms", "a Service of namespace vms"},
		{"http://a.b.vms.svc", "vms", "a Service of namespace vms"},
		{"ftp://ci.vms.svc", "vms", "scheme"},
		{"http://u:p@ci.vms.svc", "vms", "credentials"},
		{"http://%zz", "vms", "reply URL"},
	} {
		t.Run(tt.url, func(t *testing.T) {
			err := CheckTarget(tt.url, tt.namespace)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestSend(t *testing.T) {
	var got []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Clone())
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	e, err := events.NewVolumeReply(events.VolumeAccepted, events.VolumeReplyPayload{RequestID: "r1", RequestSource: "/ci",
		Claim: events.Claim{Namespace: "vms", Name: "disk"}, Status: 202}, time.Now())
	require.NoError(t, err)

	broker, err := NewSender(srv.URL, nil)
	require.NoError(t, err)
	require.NoError(t, broker.Send(context.Background(), e, "http://ignored.vms.svc", "vms"), "the Broker wins over the request's URL")
	require.Len(t, got, 1)
	assert.Equal(t, "r1", got[0].Get("Ce-Requestid"), "the sender's Trigger filters on the request id")
	assert.Empty(t, got[0].Get("Authorization"), "replies carry no credentials")
	assert.Empty(t, got[0].Get("Ce-Authtoken"))

	direct, err := NewSender("", func() (string, error) { return "broker-token", nil })
	require.NoError(t, err)
	assert.NoError(t, direct.Send(context.Background(), e, "", "vms"), "no reply URL: nobody to tell")
	assert.ErrorContains(t, direct.Send(context.Background(), e, srv.URL, "vms"), "a Service of namespace vms",
		"a reply URL outside the namespace's Services is never called")
	assert.Len(t, got, 1)
}

func TestFromEnvThroughAnOIDCBroker(t *testing.T) {
	var got []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Clone())
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	e, err := events.NewVolumeReply(events.VolumeAccepted, events.VolumeReplyPayload{RequestID: "r1", RequestSource: "/ci",
		Claim: events.Claim{Namespace: "vms", Name: "disk"}, Status: 202}, time.Now())
	require.NoError(t, err)
	brokerToken := func() (string, error) { return "broker-token", nil }
	tests := []struct {
		name     string
		env      map[string]string
		wantAuth string
	}{
		{name: "K_SINK: the SinkBinding's token", env: map[string]string{"K_SINK": srv.URL}, wantAuth: "Bearer broker-token"},
		{name: "REPLY_SINK elsewhere: not that token", env: map[string]string{"K_SINK": "http://broker.example", EnvSink: srv.URL}},
		{name: "REPLY_SINK is K_SINK", env: map[string]string{"K_SINK": srv.URL, EnvSink: srv.URL}, wantAuth: "Bearer broker-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			s, err := FromEnv(func(k string) string { return tt.env[k] }, brokerToken)
			require.NoError(t, err)
			require.NoError(t, s.Send(context.Background(), e, "", "vms"))
			require.Len(t, got, 1)
			assert.Equal(t, tt.wantAuth, got[0].Get("Authorization"))
			assert.Empty(t, got[0].Get("Ce-Authtoken"), "never a credential of the function's own")
		})
	}
}

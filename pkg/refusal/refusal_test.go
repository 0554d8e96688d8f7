package refusal

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/record"
)

func TestPhase(t *testing.T) {
	c := gen.Claim("golden")
	tests := []struct {
		name, reason string
		wantPhase    string
		permanent    bool
	}{
		{"waits", reason.MissingSecret, events.PodPending, false},
		{"waits for room", reason.CreatePod, events.PodPending, false},
		{"invalid request: final", reason.InvalidRequest, events.PodFailed, true},
		{"invalid pod: final", reason.InvalidPod, events.PodFailed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Phase(c, "importer-golden", tt.reason, "why")
			assert.Equal(t, events.DataPodPhasePayload{
				Claim: events.Claim{Namespace: c.Namespace, Name: "golden", UID: "uid-golden"},
				Pod:   events.Pod{Name: "importer-golden"}, Phase: tt.wantPhase, Reason: tt.reason, Message: "why", Permanent: tt.permanent,
			}, p)
		})
	}
	long := Phase(c, "p", reason.CreatePod, strings.Repeat("x", 10*record.MaxMessage))
	assert.LessOrEqual(t, len(long.Message), record.MaxMessage, "bounded like every status message")
}

func TestNewSenderWithoutSink(t *testing.T) {
	s, err := NewSender("", nil, nil)
	require.NoError(t, err)
	assert.NoError(t, s(context.Background(), events.DataPodPhasePayload{}), "no sink: nothing to do")
}

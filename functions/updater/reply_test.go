package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cdi-functions/cdi-functions/internal/gen"
	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
)

// TestReplyOutcome: the outcome of a claim an external request made goes
// back to the requesting system, with the request's id, to the request's
// reply URL; other claims and unfinished work send nothing.
func TestReplyOutcome(t *testing.T) {
	requested := []gen.ClaimOption{gen.WithAnnotation(annotations.RequestID, "r1"), gen.WithAnnotation(annotations.RequestSource, "/ci"),
		gen.WithAnnotation(annotations.ReplyTo, "http://ci.default.svc/replies"), gen.WithPhase(annotations.PhaseRunning)}
	failed := events.DataPodPhasePayload{Phase: events.PodFailed, Reason: reason.ImportFailed, Message: "404 Not Found", Permanent: true}
	tests := []struct {
		name       string
		claim      []gen.ClaimOption
		payload    *events.DataPodPhasePayload
		progress   bool
		sendErr    error
		wantReply  string
		wantReason string
		wantErr    bool
	}{
		{name: "succeeded", claim: requested, wantReply: events.VolumeSucceeded, wantReason: reason.ImportSucceeded},
		{name: "failed for good", claim: requested, payload: &failed, wantReply: events.VolumeFailed, wantReason: reason.ImportFailed},
		{name: "not made by a request: no reply", claim: []gen.ClaimOption{gen.WithPhase(annotations.PhaseRunning)}},
		{name: "progress: no reply", claim: requested, progress: true},
		{name: "the reply cannot be sent: the event is retried", claim: requested, sendErr: errors.New("connection refused"),
			wantReply: events.VolumeSucceeded, wantReason: reason.ImportSucceeded, wantErr: true},
		{name: "the reply is refused for good: done", claim: requested, sendErr: fmt.Errorf("%w: 400", events.ErrRejected),
			wantReply: events.VolumeSucceeded, wantReason: reason.ImportSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := gen.ImportClaim("golden", tt.claim...)
			u, _ := newTestUpdater(t, c, gen.DataPod(c))
			var got []cloudevents.Event
			u.reply = func(_ context.Context, e cloudevents.Event, replyTo, ns string) error {
				assert.Equal(t, "http://ci.default.svc/replies", replyTo)
				assert.Equal(t, c.Namespace, ns)
				got = append(got, e)
				return tt.sendErr
			}
			e := succeededEvent(t, c)
			switch {
			case tt.progress:
				e = progressEvent(t, c, 1, 4)
			case tt.payload != nil:
				e = phaseEvent(t, c, *tt.payload)
			}
			sender := eventSource
			if tt.progress {
				sender = podIdentity(gen.DataPod(c))
			}
			err := u.handle(as(t, sender), e)
			if tt.wantErr {
				assert.Error(t, err)
			} else {
				assert.NoError(t, err)
			}
			if tt.wantReply == "" {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, tt.wantReply, got[0].Type())
			assert.Equal(t, "r1", got[0].Extensions()[events.ExtensionRequestID])
			var p events.VolumeReplyPayload
			require.NoError(t, got[0].DataAs(&p))
			assert.Equal(t, events.VolumeReplyPayload{RequestID: "r1", RequestSource: "/ci", Claim: ref(c), Reason: tt.wantReason,
				Message: p.Message}, p)
		})
	}
}

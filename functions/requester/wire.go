package main

import (
	"context"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/access"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/reply"
)

// newHandler builds the requester from its environment: REPLY_SINK or
// K_SINK (the Broker, if any) for its replies.
func newHandler(_ context.Context, env function.Env) (function.Handler, error) {
	replies, err := reply.FromEnv(env.Getenv, env.SinkToken)
	if err != nil {
		return nil, err
	}
	q, err := newRequester(env.Kube, access.Reviewer(env.Kube), replies.Send, env.Meter, time.Now)
	if err != nil {
		return nil, err
	}
	return q.Handle, nil
}

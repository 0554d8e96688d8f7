package reply

import (
	"context"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// EnvSink is the environment variable naming the Broker replies go to
// (K_SINK, a SinkBinding's, is used when it is unset); without either,
// each reply goes to its request's own reply URL.
const EnvSink = "REPLY_SINK"

// SinkFrom is the reply sink of a function's environment: REPLY_SINK,
// else K_SINK, else "".
func SinkFrom(getenv func(string) string) string {
	if s := getenv(EnvSink); s != "" {
		return s
	}
	return getenv(events.SinkEnv)
}

// FromEnv is the Sender of a function's environment: to SinkFrom(getenv),
// with sinkToken (the SinkBinding's, auth.SinkTokenFile) when that sink is
// K_SINK, the SinkBinding's sink the token is for.
func FromEnv(getenv func(string) string, sinkToken func() (string, error)) (*Sender, error) {
	sink := SinkFrom(getenv)
	if sink != getenv(events.SinkEnv) {
		sinkToken = nil
	}
	return NewSender(sink, sinkToken)
}

// Sender sends replies, without credentials, with the retries of
// events.Sender.
type Sender struct {
	sink string
	send *events.Sender
}

// NewSender returns a Sender to sink (a Broker; "" to use each request's
// reply URL). sinkToken, when not nil, is the Broker's token (OIDC); the
// replies carry no other credentials.
func NewSender(sink string, sinkToken func() (string, error)) (*Sender, error) {
	var opts events.SenderOptions
	if sink != "" {
		opts.SinkToken = sinkToken
	}
	s, err := events.NewSender(func() events.Routes { return events.Routes{} }, opts)
	if err != nil {
		return nil, fmt.Errorf("reply sender: %w", err)
	}
	return &Sender{sink: sink, send: s}, nil
}

// Target is where a reply about a claim of namespace goes: the Broker, or
// replyTo when it is a valid target (CheckTarget); "" when there is none.
// err says why a replyTo was not taken.
func (s *Sender) Target(replyTo, namespace string) (string, error) {
	if s.sink != "" {
		return s.sink, nil
	}
	if replyTo == "" {
		return "", nil
	}
	if err := CheckTarget(replyTo, namespace); err != nil {
		return "", err
	}
	return replyTo, nil
}

// Send delivers reply e about a claim of namespace whose request named
// replyTo. With nowhere to go it does nothing; an invalid replyTo is an
// error and nothing is sent.
func (s *Sender) Send(ctx context.Context, e cloudevents.Event, replyTo, namespace string) error {
	target, err := s.Target(replyTo, namespace)
	if err != nil || target == "" {
		return err
	}
	return s.send.SendTo(ctx, target, e)
}

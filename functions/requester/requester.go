package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/access"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
)

// Replier sends a reply about a claim of namespace to where its request
// asked (reply.Sender.Send).
type Replier func(ctx context.Context, e cloudevents.Event, replyTo, namespace string) error

// Requester turns external VolumeRequested events into annotated claims.
type Requester struct {
	kube     kubernetes.Interface
	review   access.Review
	reply    Replier
	now      func() time.Time
	outcomes *function.Outcomes
}

func newRequester(kube kubernetes.Interface, review access.Review, reply Replier, meter metric.Meter, now func() time.Time) (*Requester, error) {
	outcomes, err := function.NewOutcomes(meter, "cdi.requester.events", "VolumeRequested")
	if err != nil {
		return nil, err
	}
	return &Requester{kube: kube, review: review, reply: reply, now: now, outcomes: outcomes}, nil
}

// Handle handles one VolumeRequested event: it makes the claim the
// request asks for, on the sender's behalf, or finds it when the same
// request comes again, and replies (events.VolumeAccepted or
// events.VolumeRejected).
//
// Answers: nil (202) when the claim exists afterwards, made by this
// request; Permanent (400) with every reason for a malformed or invalid
// request; 403 unless the sender may create claims in the namespace (and,
// for a clone, clone from the source's namespace: what the clone webhook
// checks of a user); Conflict (409) when the claim exists and another
// request, or none, made it; any other error (5xx, retried) for API
// trouble. Nothing is created before all of it is checked.
func (q *Requester) Handle(ctx context.Context, e cloudevents.Event) error {
	outcome, r, claim, err := q.handle(ctx, e)
	q.outcomes.Count(ctx, outcome)
	q.answer(ctx, r, claim, err)
	return err
}

func (q *Requester) handle(ctx context.Context, e cloudevents.Event) (outcome string, r request, claim events.Claim, _ error) {
	id, _ := auth.FromContext(ctx)
	r = request{ID: e.ID(), Source: e.Source(), Sender: id.Username}
	if err := events.Decode(e, events.VolumeRequested, &r.Payload); err != nil {
		return function.OutcomeMalformed, r, claim, function.Permanent(err)
	}
	claim = events.Claim{Namespace: r.Payload.Claim.Namespace, Name: r.Payload.Claim.Name}
	if err := validate(r); err != nil {
		return function.OutcomeRefused, r, claim, function.Permanent(fmt.Errorf("invalid request:\n%w", err))
	}
	if err := q.authorize(ctx, id, r.Payload); err != nil {
		return function.OutcomeForbidden, r, claim, err
	}
	want := claimFor(r)
	got, err := q.kube.CoreV1().PersistentVolumeClaims(want.Namespace).Create(ctx, want, metav1.CreateOptions{})
	outcome = function.OutcomeCreated
	if apierrors.IsAlreadyExists(err) {
		outcome = function.OutcomeExists
		got, err = q.kube.CoreV1().PersistentVolumeClaims(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		if err == nil {
			if conflict := sameRequest(got, r); conflict != nil {
				return function.OutcomeConflict, r, claim, function.Conflict(conflict)
			}
		}
	}
	switch {
	case apierrors.IsInvalid(err), apierrors.IsForbidden(err):
		// The API server or an admission webhook (the clone webhook, a
		// quota) refused the claim: the sender reads why.
		return function.OutcomeRefused, r, claim, function.Permanent(fmt.Errorf("create claim %s/%s: %w", want.Namespace, want.Name, err))
	case err != nil:
		return function.OutcomeRetry, r, claim, fmt.Errorf("create claim %s/%s: %w", want.Namespace, want.Name, err)
	}
	claim.UID = string(got.UID)
	logging.FromContext(ctx).Infow("claim of the request", zap.String("claim", want.Namespace+"/"+want.Name),
		zap.String("uid", claim.UID), zap.String("outcome", outcome))
	return outcome, r, claim, nil
}

// authorize asks the API server, with the sender's own identity, what a
// user creating the claim by hand would need: create on claims in the
// namespace and, for a clone, what the clone webhook asks of the source's
// namespace.
func (q *Requester) authorize(ctx context.Context, id auth.Identity, p events.VolumeRequestedPayload) error {
	user := id.UserInfo()
	ok, err := q.review(ctx, user, access.CreateClaims(p.Claim.Namespace))
	if err != nil {
		return err
	}
	if !ok {
		return auth.Forbidden("%s", access.MissingClaimPermission(id.Username, p.Claim.Namespace))
	}
	if c := p.Source.Clone; c != nil {
		ok, err := q.review(ctx, user, access.CloneSource(c.Namespace)...)
		if err != nil {
			return err
		}
		if !ok {
			return auth.Forbidden("%s", access.MissingClonePermission(id.Username, c.Namespace))
		}
	}
	return nil
}

// answer replies to the request: accepted, or rejected with the reasons.
// API trouble gets no reply: the sender (or the Broker) sends again.
// Replies go only to valid targets (the Replier checks replyTo again), and
// a reply that cannot be sent is logged: the answer itself still tells the
// sender.
func (q *Requester) answer(ctx context.Context, r request, claim events.Claim, err error) {
	typ, p := events.VolumeAccepted, events.VolumeReplyPayload{RequestID: r.ID, RequestSource: r.Source, Claim: claim, Status: 202}
	switch {
	case err == nil:
	case function.IsConflict(err):
		typ, p.Status, p.Errors = events.VolumeRejected, 409, []string{err.Error()}
	case errors.Is(err, auth.ErrForbidden):
		typ, p.Status, p.Errors = events.VolumeRejected, 403, []string{err.Error()}
	case function.IsPermanent(err):
		typ, p.Status, p.Errors = events.VolumeRejected, 400, reasons(err)
	default:
		return
	}
	if claim.Namespace == "" || claim.Name == "" {
		return // a malformed request names no claim to reply about
	}
	// Before the sender is known to be allowed (400, 403), its replyTo is
	// not used: an outsider must not make the requester call Services of
	// a namespace it has no rights in. Such rejections reach a Broker
	// only, and the sender reads them in the answer.
	replyTo := r.Payload.ReplyTo
	if p.Status == 400 || p.Status == 403 {
		replyTo = ""
	}
	e, berr := events.NewVolumeReply(typ, p, q.now())
	if berr == nil {
		berr = q.reply(ctx, e, replyTo, claim.Namespace)
	}
	if berr != nil {
		logging.FromContext(ctx).Warnw("could not reply", zap.String("reply", typ), zap.Error(berr))
	}
}

// reasons are the lines of a rejection, one per reason.
func reasons(err error) []string {
	var out []string
	for _, e := range flatten(errors.Unwrap(err)) {
		for _, line := range strings.Split(e.Error(), "\n") {
			if line != "" && line != "invalid request:" {
				out = append(out, line)
			}
		}
	}
	return out
}

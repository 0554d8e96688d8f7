package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/record"
	"github.com/cdi-functions/cdi-functions/pkg/refusal"
)

// Verifier checks a target claim's clone authorization (pkg/cloneauth):
// nil when the claim carries a valid grant for its own CloneRequest.
type Verifier func(ctx context.Context, target *corev1.PersistentVolumeClaim) error

// Cloner turns CloneRequested events into the pods of a clone.
type Cloner struct {
	kube      kubernetes.Interface
	pods      datapod.Config
	authority *podcred.Authority
	verify    Verifier
	recorder  *record.Recorder
	status    refusal.Sender
	// eventSource is the user name of the event source, the one sender
	// whose clone requests are taken.
	eventSource string
	now         func() time.Time
	outcomes    *function.Outcomes
}

// newCloner returns a Cloner creating pods with cfg and credentials from
// authority, for requests sent by eventSource, cloning only what verify
// admits.
func newCloner(kube kubernetes.Interface, cfg datapod.Config, authority *podcred.Authority, verify Verifier, eventSource string,
	rec *record.Recorder, status refusal.Sender, meter metric.Meter, now func() time.Time) (*Cloner, error) {
	outcomes, err := function.NewOutcomes(meter, "cdi.cloner.events", "CloneRequested")
	if err != nil {
		return nil, err
	}
	return &Cloner{kube: kube, pods: cfg, authority: authority, verify: verify, eventSource: eventSource, recorder: rec,
		status: status, now: now, outcomes: outcomes}, nil
}

// Handle handles one CloneRequested event: when the target claim still
// asks for the clone, its authorization holds and its source is ready, it
// makes sure the target pod, its Service and Secret, and the source pod
// and its Secret exist (a source pod that failed for good is replaced).
//
// Answers: 403 unless the sender is the event source; nil (202) when the
// pods exist afterwards, the event is obsolete, or the clone waits (for
// its source, a quota: Pending with an Event; the event source asks again
// with backoff); Permanent (400) for a malformed event, an invalid or
// unauthorized request or a target too small (Failed with an Event); any
// other error (5xx, retried) for API trouble.
func (c *Cloner) Handle(ctx context.Context, e cloudevents.Event) error {
	outcome, err := c.handle(ctx, e)
	c.outcomes.Count(ctx, outcome)
	return err
}

func (c *Cloner) handle(ctx context.Context, e cloudevents.Event) (outcome string, _ error) {
	if id, _ := auth.FromContext(ctx); !id.Is(c.eventSource) {
		return function.OutcomeForbidden, auth.Forbidden("%s may not request clones: only the event source (%s) may", id, c.eventSource)
	}
	var p events.CloneRequestedPayload
	if err := events.Decode(e, events.CloneRequested, &p); err != nil {
		return function.OutcomeMalformed, function.Permanent(err)
	}
	if err := checkPayload(p); err != nil {
		return function.OutcomeMalformed, function.Permanent(fmt.Errorf("event %s: %w", e.ID(), err))
	}
	log := logging.FromContext(ctx).With(zap.String("claim", p.Claim.Namespace+"/"+p.Claim.Name),
		zap.String("claimUID", p.Claim.UID), zap.String("source", p.Source.String()))
	ctx = logging.WithLogger(ctx, log)

	target, err := c.claim(ctx, p.Claim.Namespace, p.Claim.Name)
	if err != nil {
		return function.OutcomeRetry, err
	}
	var verifyErr error
	d := decideTarget(target, p, func(t *corev1.PersistentVolumeClaim) error {
		verifyErr = c.verify(ctx, t)
		return verifyErr
	})
	if errors.Is(verifyErr, errNoVerificationKey) {
		return function.OutcomeRetry, verifyErr
	}
	if d.verdict == verdictClone {
		var source *corev1.PersistentVolumeClaim
		source, err = c.claim(ctx, p.Source.Namespace, p.Source.Name)
		if err != nil {
			return function.OutcomeRetry, err
		}
		d = decideSource(source, target, p.Source)
		if d.verdict == verdictClone {
			return c.ensure(ctx, target, source)
		}
	}
	switch d.verdict {
	case verdictIgnore:
		log.Infow("nothing to do", zap.String("why", d.message))
		return function.OutcomeObsolete, nil
	case verdictWait:
		return function.OutcomeWaiting, c.wait(ctx, target, d.reason, d.message)
	}
	return function.OutcomeRefused, c.refuse(ctx, target, d.reason, d.message)
}

// claim gets a claim, nil when it does not exist.
func (c *Cloner) claim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	claim, err := c.kube.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get claim %s/%s: %w", namespace, name, err)
	}
	return claim, nil
}

// ensure makes sure every object of the clone of source into target
// exists: the target's Secret, pod and Service, then the source's pod and
// Secret. Each is created once (create, AlreadyExists is fine): the names
// are the target claim's, so an object of that name is this clone's.
func (c *Cloner) ensure(ctx context.Context, target, source *corev1.PersistentVolumeClaim) (string, error) {
	log := logging.FromContext(ctx)
	uid := string(target.UID)
	cred, err := c.authority.IssueClone(uid, c.now())
	if err != nil {
		return function.OutcomeRetry, fmt.Errorf("issue the clone credential of %s/%s: %w", target.Namespace, target.Name, err)
	}
	if err := c.create(ctx, datapod.CloneTargetSecret(target, cred.Bearer, cred.CertPEM, cred.KeyPEM)); err != nil {
		return c.failed(ctx, target, err)
	}
	outcome := function.OutcomeExists
	targetPod, targetCreated, err := c.createPod(ctx, target, datapod.CloneTargetPod(target, c.pods))
	if err != nil || targetPod == nil {
		return c.podTrouble(ctx, target, datapod.CloneTargetPodName(target.Name), err)
	}
	if targetCreated {
		outcome = function.OutcomeCreated
		log.Infow("clone target pod created", zap.String("pod", targetPod.Name))
	}
	if err := c.create(ctx, datapod.CloneService(target, targetPod)); err != nil {
		return c.failed(ctx, target, err)
	}

	sourcePod, created, err := c.createPod(ctx, target, datapod.CloneSourcePod(source, target, c.pods))
	if err != nil || sourcePod == nil {
		return c.podTrouble(ctx, target, datapod.CloneSourcePodName(uid), err)
	}
	if !created && spentSource(sourcePod, targetCreated) {
		return function.OutcomeRetry, c.replace(ctx, sourcePod)
	}
	if created {
		outcome = function.OutcomeCreated
		log.Infow("clone source pod created", zap.String("pod", source.Namespace+"/"+sourcePod.Name))
	}
	if err := c.create(ctx, datapod.CloneSourceSecret(sourcePod, cred.Bearer, c.authority.CACertPEM())); err != nil {
		return c.failed(ctx, target, err)
	}
	return outcome, nil
}

// spentSource reports whether an existing source pod will send nothing
// more to the current target pod: it is going, it failed for good, or it
// finished sending to an earlier target pod (the target pod was made
// anew).
func spentSource(pod *corev1.Pod, targetCreated bool) bool {
	return pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed ||
		(targetCreated && pod.Status.Phase == corev1.PodSucceeded)
}

// replace deletes a spent source pod (exactly that one) and returns the
// error that has the event retried: the next attempt makes a new one.
func (c *Cloner) replace(ctx context.Context, pod *corev1.Pod) error {
	if pod.DeletionTimestamp == nil {
		err := c.kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete spent clone source pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		logging.FromContext(ctx).Infow("replacing the clone source pod", zap.String("pod", pod.Namespace+"/"+pod.Name),
			zap.String("phase", string(pod.Status.Phase)))
	}
	return fmt.Errorf("clone source pod %s/%s is being replaced", pod.Namespace, pod.Name)
}

// create creates a Secret or Service of the clone; one that exists is
// this clone's (named by the target's UID).
func (c *Cloner) create(ctx context.Context, obj any) error {
	var err error
	var what string
	switch o := obj.(type) {
	case *corev1.Secret:
		what = "Secret " + o.Namespace + "/" + o.Name
		_, err = c.kube.CoreV1().Secrets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.Service:
		what = "Service " + o.Namespace + "/" + o.Name
		_, err = c.kube.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	default:
		return fmt.Errorf("cannot create a %T", obj)
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create %s: %w", what, err)
	}
	return nil
}

// createPod creates pod, or returns the one of its name that is this
// clone's (created false): the target claim's own target pod, or the
// source pod labelled with the target's UID. It returns a nil pod (and no
// error) when another pod holds the name (an Event says so).
func (c *Cloner) createPod(ctx context.Context, target *corev1.PersistentVolumeClaim, pod *corev1.Pod) (*corev1.Pod, bool, error) {
	pods := c.kube.CoreV1().Pods(pod.Namespace)
	made, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err == nil {
		return made, true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, false, err
	}
	have, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("get existing pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	ours := datapod.IsCloneSourceOf(have, string(target.UID))
	if kind := pod.Labels[datapod.LabelKind]; kind == datapod.KindCloneTarget {
		switch datapod.Whose(have, target, kind) {
		case datapod.HeldByClaim:
			ours = true
		case datapod.HeldByEarlierClaim:
			return nil, false, fmt.Errorf("pod %s/%s belongs to an earlier claim of that name, wait for its deletion", have.Namespace, have.Name)
		}
	}
	if !ours {
		return nil, false, c.wait(ctx, target, reason.PodNameConflict,
			fmt.Sprintf("pod %s/%s exists and is not this clone's; delete or rename it to clone into this claim", pod.Namespace, pod.Name))
	}
	return have, false, nil
}

// podTrouble answers a pod that could not be made: a conflict already
// told (nil err), a namespace being deleted (obsolete), an invalid pod
// (Failed), a refusal that may pass (Pending with an Event), else a retry.
func (c *Cloner) podTrouble(ctx context.Context, target *corev1.PersistentVolumeClaim, name string, err error) (string, error) {
	switch {
	case err == nil:
		return function.OutcomeWaiting, nil
	case terminating(err):
		logging.FromContext(ctx).Infow("nothing to do", zap.String("why", "a namespace of the clone is being deleted"))
		return function.OutcomeObsolete, nil
	case apierrors.IsInvalid(err):
		return function.OutcomeRefused, c.refuse(ctx, target, reason.InvalidPod,
			fmt.Sprintf("the clone pod %s is invalid (check the cloner's configuration): %v", name, err))
	case apierrors.IsForbidden(err):
		return function.OutcomeWaiting, c.wait(ctx, target, reason.CreatePod, fmt.Sprintf("cannot create the clone pod %s yet (retrying): %v", name, err))
	}
	return function.OutcomeRetry, fmt.Errorf("clone pod %s: %w", name, err)
}

// failed answers an object that could not be made: obsolete in a
// namespace being deleted, else a retry.
func (c *Cloner) failed(ctx context.Context, target *corev1.PersistentVolumeClaim, err error) (string, error) {
	if terminating(err) {
		logging.FromContext(ctx).Infow("nothing to do", zap.String("why", "a namespace of the clone is being deleted"))
		return function.OutcomeObsolete, nil
	}
	return function.OutcomeRetry, fmt.Errorf("clone into %s/%s: %w", target.Namespace, target.Name, err)
}

// terminating reports whether err is the API server's refusal to create
// anything in a namespace being deleted.
func terminating(err error) bool {
	return err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

// refuse ends the clone Failed: a Warning Event, the refusal reported to
// the updater, and the permanent error that answers the CloudEvent.
func (c *Cloner) refuse(ctx context.Context, target *corev1.PersistentVolumeClaim, r, message string) error {
	return refusal.Refuse(ctx, c.recorder, c.status, target, datapod.CloneTargetPodName(target.Name), r, message)
}

// wait leaves the clone Pending with the reason; the event source asks
// again with backoff. The Event is recorded once per reason and message
// (the recorder aggregates repeats).
func (c *Cloner) wait(ctx context.Context, target *corev1.PersistentVolumeClaim, r, message string) error {
	if annotations.StatusOf(target.Annotations).Message == message {
		return nil
	}
	logging.FromContext(ctx).Infow("clone waits", zap.String("reason", r), zap.String("message", message))
	return refusal.Tell(ctx, c.recorder, c.status, target, datapod.CloneTargetPodName(target.Name), r, message)
}

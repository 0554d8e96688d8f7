package main

import (
	"context"
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

	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/podcred"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/record"
	"github.com/cdi-functions/cdi-functions/pkg/refusal"
)

// Uploader turns UploadRequested events into upload pods.
type Uploader struct {
	kube      kubernetes.Interface
	pods      datapod.Config
	authority *podcred.Authority
	recorder  *record.Recorder
	status    refusal.Sender
	// eventSource is the user name of the event source, the one sender
	// whose upload requests are taken.
	eventSource string
	now         func() time.Time
	outcomes    *function.Outcomes
}

// newUploader returns an Uploader creating pods with cfg and credentials
// from authority, for requests sent by eventSource.
func newUploader(kube kubernetes.Interface, cfg datapod.Config, authority *podcred.Authority, eventSource string,
	rec *record.Recorder, status refusal.Sender, meter metric.Meter, now func() time.Time) (*Uploader, error) {
	outcomes, err := function.NewOutcomes(meter, "cdi.uploader.events", "UploadRequested")
	if err != nil {
		return nil, err
	}
	return &Uploader{kube: kube, pods: cfg, authority: authority, eventSource: eventSource, recorder: rec, status: status,
		now: now, outcomes: outcomes}, nil
}

// Handle handles one UploadRequested event: it makes sure the claim's
// upload pod, and the Secret holding that pod's credential, exist when
// the claim still waits for an upload.
//
// Answers: 403 unless the sender is the event source; nil (202) when the
// pod exists afterwards, the event is obsolete, or the pod cannot be made
// yet (a quota, Pod Security admission: the claim shows Pending with an
// Event, and the event source asks again with backoff); Permanent (400)
// for a malformed event or an invalid claim (Failed with an Event naming
// the annotation); any other error (5xx, retried) for API trouble.
func (u *Uploader) Handle(ctx context.Context, e cloudevents.Event) error {
	outcome, err := u.handle(ctx, e)
	u.outcomes.Count(ctx, outcome)
	return err
}

func (u *Uploader) handle(ctx context.Context, e cloudevents.Event) (outcome string, _ error) {
	if id, _ := auth.FromContext(ctx); !id.Is(u.eventSource) {
		return function.OutcomeForbidden, auth.Forbidden("%s may not request upload pods: only the event source (%s) may", id, u.eventSource)
	}
	var p events.UploadRequestedPayload
	if err := events.Decode(e, events.UploadRequested, &p); err != nil {
		return function.OutcomeMalformed, function.Permanent(err)
	}
	if err := checkPayload(p); err != nil {
		return function.OutcomeMalformed, function.Permanent(fmt.Errorf("event %s: %w", e.ID(), err))
	}
	log := logging.FromContext(ctx).With(zap.String("claim", p.Claim.Namespace+"/"+p.Claim.Name), zap.String("claimUID", p.Claim.UID))

	claim, err := u.kube.CoreV1().PersistentVolumeClaims(p.Claim.Namespace).Get(ctx, p.Claim.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		claim = nil
	case err != nil:
		return function.OutcomeRetry, fmt.Errorf("get claim %s/%s: %w", p.Claim.Namespace, p.Claim.Name, err)
	}

	d := decide(claim, p)
	switch d.verdict {
	case verdictIgnore:
		log.Infow("nothing to do", zap.String("why", d.message))
		return function.OutcomeObsolete, nil
	case verdictRefuse:
		return function.OutcomeRefused, u.refuse(ctx, claim, d.reason, d.message)
	}

	secret, err := u.credential(ctx, claim)
	switch {
	case terminating(err):
		log.Infow("nothing to do", zap.String("why", "the namespace is being deleted"))
		return function.OutcomeObsolete, nil
	case err != nil:
		return function.OutcomeRetry, err
	}
	pod := datapod.UploadPod(claim, secret, u.pods)
	_, err = u.kube.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	switch {
	case err == nil:
		log.Infow("upload pod created", zap.String("pod", pod.Name))
		return function.OutcomeCreated, nil
	case apierrors.IsAlreadyExists(err):
		return u.existing(ctx, claim, pod.Name)
	case terminating(err):
		log.Infow("nothing to do", zap.String("why", "the namespace is being deleted"))
		return function.OutcomeObsolete, nil
	case apierrors.IsInvalid(err):
		return function.OutcomeRefused, u.refuse(ctx, claim, reason.InvalidPod,
			fmt.Sprintf("the upload pod %s is invalid (check the uploader's configuration): %v", pod.Name, err))
	case apierrors.IsForbidden(err):
		return function.OutcomeWaiting, u.wait(ctx, claim, reason.CreatePod,
			fmt.Sprintf("cannot create the upload pod %s yet (retrying): %v", pod.Name, err))
	default:
		return function.OutcomeRetry, fmt.Errorf("create upload pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
}

// credential makes sure the claim's credential Secret exists and returns
// its name. The Secret is named by the claim's UID, so one that exists is
// this claim's (an earlier attempt's): it is kept, and the same
// credential (derived from the UID) still opens the new pod.
func (u *Uploader) credential(ctx context.Context, claim *corev1.PersistentVolumeClaim) (string, error) {
	cred, err := u.authority.Issue(string(claim.UID), u.now())
	if err != nil {
		return "", fmt.Errorf("issue the upload pod credential of %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	s := datapod.UploadSecret(claim, cred.Bearer, cred.CertPEM, cred.KeyPEM)
	_, err = u.kube.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	return s.Name, nil
}

// terminating reports whether err is the API server's refusal to create
// anything in a namespace being deleted: the claim goes with it, so the
// request is obsolete, not worth a retry or an Event.
func terminating(err error) bool {
	return err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

// existing judges a pod that already holds the upload pod's name (see
// datapod.Whose).
func (u *Uploader) existing(ctx context.Context, claim *corev1.PersistentVolumeClaim, name string) (string, error) {
	pod, err := u.kube.CoreV1().Pods(claim.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return function.OutcomeRetry, fmt.Errorf("get existing pod %s/%s: %w", claim.Namespace, name, err)
	}
	switch datapod.Whose(pod, claim, datapod.KindUpload) {
	case datapod.HeldByOther:
		return function.OutcomeWaiting, u.wait(ctx, claim, reason.PodNameConflict,
			fmt.Sprintf("pod %s exists and is not this claim's upload pod; delete or rename it to upload into this claim", name))
	case datapod.HeldByEarlierClaim:
		return function.OutcomeRetry, fmt.Errorf("upload pod %s/%s belongs to an earlier claim of that name, wait for its deletion", claim.Namespace, name)
	}
	logging.FromContext(ctx).Debugw("upload pod exists", zap.String("pod", name))
	return function.OutcomeExists, nil
}

// refuse ends the claim's upload Failed: a Warning Event, the refusal
// reported to the updater, and the permanent error that answers the
// CloudEvent (a retryable one if the report cannot be delivered).
func (u *Uploader) refuse(ctx context.Context, claim *corev1.PersistentVolumeClaim, r, message string) error {
	return refusal.Refuse(ctx, u.recorder, u.status, claim, datapod.UploadPodName(claim.Name), r, message)
}

// wait leaves the claim Pending with the reason; the event source asks
// again with backoff.
func (u *Uploader) wait(ctx context.Context, claim *corev1.PersistentVolumeClaim, r, message string) error {
	logging.FromContext(ctx).Infow("upload pod waits", zap.String("reason", r), zap.String("message", message))
	return refusal.Tell(ctx, u.recorder, u.status, claim, datapod.UploadPodName(claim.Name), r, message)
}

package main

import (
	"context"
	"fmt"

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
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/record"
	"github.com/cdi-functions/cdi-functions/pkg/refusal"
)

// Importer turns ImportRequested events into data pods.
type Importer struct {
	kube     kubernetes.Interface
	pods     datapod.Config
	recorder *record.Recorder
	status   statusSender
	// eventSource is the user name of the event source, the one sender
	// whose import requests are taken.
	eventSource string
	// check validates a request before any pod exists.
	check    func(annotations.ImportRequest) error
	outcomes *function.Outcomes
}

// newImporter returns an Importer creating pods with cfg for requests sent
// by eventSource, its metric on meter.
func newImporter(kube kubernetes.Interface, cfg datapod.Config, eventSource string, check func(annotations.ImportRequest) error,
	rec *record.Recorder, status statusSender, meter metric.Meter) (*Importer, error) {
	outcomes, err := function.NewOutcomes(meter, "cdi.importer.events", "ImportRequested")
	if err != nil {
		return nil, err
	}
	return &Importer{kube: kube, pods: cfg, eventSource: eventSource, check: check, recorder: rec, status: status, outcomes: outcomes}, nil
}

// Handle handles one ImportRequested event: it makes sure the claim's data
// pod exists when the claim still wants the import the event describes.
//
// Answers: 403 unless the sender is the event source; nil (202) when the
// pod exists afterwards, the event is obsolete, or the import waits for
// something that may come (a Secret, a CA ConfigMap, room in a quota: the
// claim shows Pending with an Event saying what, and the event source
// sends the request again with backoff); Permanent (400) for a malformed
// event or an invalid request (the claim ends Failed with an Event naming
// the annotation); any other error (5xx, retried) for API trouble.
func (i *Importer) Handle(ctx context.Context, e cloudevents.Event) error {
	outcome, err := i.handle(ctx, e)
	i.outcomes.Count(ctx, outcome)
	return err
}

func (i *Importer) handle(ctx context.Context, e cloudevents.Event) (outcome string, _ error) {
	if id, _ := auth.FromContext(ctx); !id.Is(i.eventSource) {
		return function.OutcomeForbidden, auth.Forbidden("%s may not request imports: only the event source (%s) may", id, i.eventSource)
	}
	var p events.ImportRequestedPayload
	if err := events.Decode(e, events.ImportRequested, &p); err != nil {
		return function.OutcomeMalformed, function.Permanent(err)
	}
	if err := checkPayload(p); err != nil {
		return function.OutcomeMalformed, function.Permanent(fmt.Errorf("event %s: %w", e.ID(), err))
	}
	log := logging.FromContext(ctx).With(zap.String("claim", p.Claim.Namespace+"/"+p.Claim.Name), zap.String("claimUID", p.Claim.UID))

	claim, err := i.kube.CoreV1().PersistentVolumeClaims(p.Claim.Namespace).Get(ctx, p.Claim.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		claim = nil
	case err != nil:
		return function.OutcomeRetry, fmt.Errorf("get claim %s/%s: %w", p.Claim.Namespace, p.Claim.Name, err)
	}

	d := decide(claim, p, i.check)
	switch d.verdict {
	case verdictIgnore:
		log.Infow("nothing to do", zap.String("why", d.message))
		return function.OutcomeObsolete, nil
	case verdictRefuse:
		return function.OutcomeRefused, i.refuse(ctx, claim, d.reason, d.message)
	}

	if r, err := i.checkReferences(ctx, claim, p); err != nil {
		if r == "" {
			return function.OutcomeRetry, err
		}
		return function.OutcomeWaiting, i.wait(ctx, claim, r, err.Error())
	}

	pod := datapod.ImportPod(claim, p.Request, i.pods)
	_, err = i.kube.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	switch {
	case err == nil:
		log.Infow("data pod created", zap.String("pod", pod.Name))
		return function.OutcomeCreated, nil
	case apierrors.IsAlreadyExists(err):
		return i.existing(ctx, claim, pod.Name)
	case apierrors.IsInvalid(err):
		return function.OutcomeRefused, i.refuse(ctx, claim, reason.InvalidPod,
			fmt.Sprintf("the data pod %s is invalid (check the importer's configuration): %v", pod.Name, err))
	case apierrors.IsForbidden(err):
		// A quota, a LimitRange, Pod Security admission: it may pass
		// later (a pod finishes, the namespace changes), so wait.
		return function.OutcomeWaiting, i.wait(ctx, claim, reason.CreatePod,
			fmt.Sprintf("cannot create the data pod %s yet (retrying): %v", pod.Name, err))
	default:
		return function.OutcomeRetry, fmt.Errorf("create data pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
}

// existing judges a pod that already holds the data pod's name: the claim's
// own pod (a duplicate event: done), the pod of an earlier claim of the
// same name that garbage collection has yet to delete (retry), or someone
// else's pod (wait: it may be removed).
func (i *Importer) existing(ctx context.Context, claim *corev1.PersistentVolumeClaim, name string) (string, error) {
	pod, err := i.kube.CoreV1().Pods(claim.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		// Not found: it was deleted after our create failed; retry.
		return function.OutcomeRetry, fmt.Errorf("get existing pod %s/%s: %w", claim.Namespace, name, err)
	}
	switch datapod.Whose(pod, claim, datapod.KindImport) {
	case datapod.HeldByOther:
		return function.OutcomeWaiting, i.wait(ctx, claim, reason.PodNameConflict,
			fmt.Sprintf("pod %s exists and is not a data pod; delete or rename it to import into this claim", name))
	case datapod.HeldByEarlierClaim:
		return function.OutcomeRetry, fmt.Errorf("data pod %s/%s belongs to an earlier claim of that name (uid %s), wait for its deletion",
			claim.Namespace, name, pod.Labels[datapod.LabelClaimUID])
	}
	logging.FromContext(ctx).Debugw("data pod exists", zap.String("pod", name))
	return function.OutcomeExists, nil
}

// checkReferences verifies the Secret and CA ConfigMap the request names
// exist. A missing one returns its reason and an error for the user; API
// trouble returns no reason (retry). Without permission to read them (a
// cluster that removed the importer's get on secrets or configmaps), the
// check is skipped: the pod then waits in ContainerCreating with
// FailedMount events on the pod instead.
func (i *Importer) checkReferences(ctx context.Context, claim *corev1.PersistentVolumeClaim, p events.ImportRequestedPayload) (string, error) {
	ns := claim.Namespace
	if name := p.Request.SecretName; name != "" {
		_, err := i.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if r, err := missing(ctx, err, reason.MissingSecret, "Secret", annotations.SecretName, ns, name); err != nil {
			return r, err
		}
	}
	if name := p.Request.CertConfigMap; name != "" {
		_, err := i.kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if r, err := missing(ctx, err, reason.MissingCertConfigMap, "ConfigMap", annotations.CertConfigMap, ns, name); err != nil {
			return r, err
		}
	}
	return "", nil
}

// missing interprets the answer to a GET of a referenced object.
func missing(ctx context.Context, err error, r, kind, annotation, ns, name string) (string, error) {
	switch {
	case err == nil:
		return "", nil
	case apierrors.IsNotFound(err):
		return r, fmt.Errorf("%s %s/%s (annotation %s) does not exist: the import starts once it does", kind, ns, name, annotation)
	case apierrors.IsForbidden(err):
		logging.FromContext(ctx).Debugw("no permission to check a reference, skipped", zap.String("kind", kind), zap.Error(err))
		return "", nil
	default:
		return "", fmt.Errorf("get %s %s/%s: %w", kind, ns, name, err)
	}
}

// refuse ends the claim's work Failed: a Warning Event on the claim, the
// refusal reported to the updater, and the permanent error that answers
// the CloudEvent. If the report cannot be delivered the answer is a
// retryable error, so the refusal is not lost.
func (i *Importer) refuse(ctx context.Context, claim *corev1.PersistentVolumeClaim, r, message string) error {
	return refusal.Refuse(ctx, i.recorder, i.status, claim, datapod.ImportPodName(claim.Name), r, message)
}

// wait leaves the claim Pending with the reason: a Warning Event and the
// report to the updater; the event is answered 202 and the event source
// sends it again with backoff, so the import starts once the cause is gone.
func (i *Importer) wait(ctx context.Context, claim *corev1.PersistentVolumeClaim, r, message string) error {
	logging.FromContext(ctx).Infow("import waits", zap.String("reason", r), zap.String("message", message))
	return refusal.Tell(ctx, i.recorder, i.status, claim, datapod.ImportPodName(claim.Name), r, message)
}

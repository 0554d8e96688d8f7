package main

import (
	"context"
	"errors"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
)

// Importer turns ImportRequested events into data pods.
type Importer struct {
	kube     kubernetes.Interface
	pods     datapod.Config
	recorder *recorder
	status   statusSender
	outcomes *prometheus.CounterVec
}

// newImporter returns an Importer creating pods with cfg, registering its
// metric with reg.
func newImporter(kube kubernetes.Interface, cfg datapod.Config, rec *recorder, status statusSender, reg prometheus.Registerer) (*Importer, error) {
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cdi_importer_events_total",
		Help: "ImportRequested events by outcome: created, exists, obsolete, rejected, malformed, retry.",
	}, []string{"outcome"})
	if err := reg.Register(outcomes); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return &Importer{kube: kube, pods: cfg, recorder: rec, status: status, outcomes: outcomes}, nil
}

// Handle handles one ImportRequested event: it makes sure the claim's data
// pod exists when the claim still wants the import the event describes.
//
// Answers: nil (202) when the pod exists afterwards or the event is
// obsolete; Permanent (400) for a malformed event or a request that cannot
// be carried out as it stands (also shown on the claim as a Warning
// Event; the event source re-emits the request on resync, so fixing the
// claim or creating the missing Secret lets it proceed); any other error
// (5xx, retried) for API trouble.
func (i *Importer) Handle(ctx context.Context, e cloudevents.Event) error {
	outcome, err := i.handle(ctx, e)
	i.outcomes.WithLabelValues(outcome).Inc()
	return err
}

func (i *Importer) handle(ctx context.Context, e cloudevents.Event) (outcome string, _ error) {
	var p events.ImportRequestedPayload
	if err := events.Decode(e, events.ImportRequested, &p); err != nil {
		return outcomeMalformed, function.Permanent(err)
	}
	if err := checkPayload(p); err != nil {
		return outcomeMalformed, function.Permanent(fmt.Errorf("event %s: %w", e.ID(), err))
	}
	log := logging.FromContext(ctx).With(zap.String("claim", p.Claim.Namespace+"/"+p.Claim.Name), zap.String("claimUID", p.Claim.UID))

	claim, err := i.kube.CoreV1().PersistentVolumeClaims(p.Claim.Namespace).Get(ctx, p.Claim.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		claim = nil
	case err != nil:
		return outcomeRetry, fmt.Errorf("get claim %s/%s: %w", p.Claim.Namespace, p.Claim.Name, err)
	}

	d := decide(claim, p)
	switch d.verdict {
	case verdictIgnore:
		log.Infow("nothing to do", zap.String("why", d.message))
		return outcomeObsolete, nil
	case verdictReject:
		return outcomeRejected, i.reject(ctx, claim, d.reason, d.message)
	}

	if reason, err := i.checkReferences(ctx, claim, p); err != nil {
		if reason == "" {
			return outcomeRetry, err
		}
		return outcomeRejected, i.reject(ctx, claim, reason, err.Error())
	}

	pod := datapod.ImportPod(claim, p.Request, i.pods)
	_, err = i.kube.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	switch {
	case err == nil:
		log.Infow("data pod created", zap.String("pod", pod.Name))
		return outcomeCreated, nil
	case apierrors.IsAlreadyExists(err):
		return i.existing(ctx, claim, pod.Name)
	case apierrors.IsForbidden(err), apierrors.IsInvalid(err):
		return outcomeRejected, i.reject(ctx, claim, ReasonCreatePod,
			fmt.Sprintf("cannot create data pod %s: %v", pod.Name, err))
	default:
		return outcomeRetry, fmt.Errorf("create data pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
}

// existing judges a pod that already holds the data pod's name: the claim's
// own pod (a duplicate event: done), the pod of an earlier claim of the
// same name that garbage collection has yet to delete (retry), or someone
// else's pod (reject: it will not go away by itself).
func (i *Importer) existing(ctx context.Context, claim *corev1.PersistentVolumeClaim, name string) (string, error) {
	pod, err := i.kube.CoreV1().Pods(claim.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		// Not found: it was deleted after our create failed; retry.
		return outcomeRetry, fmt.Errorf("get existing pod %s/%s: %w", claim.Namespace, name, err)
	}
	if pod.Labels[datapod.LabelManagedBy] != datapod.ManagedBy || pod.Labels[datapod.LabelKind] != datapod.KindImport {
		return outcomeRejected, i.reject(ctx, claim, ReasonPodNameConflict,
			fmt.Sprintf("pod %s exists and is not a data pod; delete or rename it to import into this claim", name))
	}
	if uid := pod.Labels[datapod.LabelClaimUID]; uid != string(claim.UID) {
		return outcomeRetry, fmt.Errorf("data pod %s/%s belongs to an earlier claim of that name (uid %s), wait for its deletion", claim.Namespace, name, uid)
	}
	logging.FromContext(ctx).Debugw("data pod exists", zap.String("pod", name))
	return outcomeExists, nil
}

// checkReferences verifies the Secret and CA ConfigMap the request names
// exist. A missing one returns its Event reason and an error for the user;
// API trouble returns no reason (retry). Without permission to read them
// (a cluster that removed the importer's get on secrets or configmaps),
// the check is skipped: the pod then waits in ContainerCreating with
// FailedMount events on the pod instead.
func (i *Importer) checkReferences(ctx context.Context, claim *corev1.PersistentVolumeClaim, p events.ImportRequestedPayload) (reason string, _ error) {
	ns := claim.Namespace
	if name := p.Request.SecretName; name != "" {
		_, err := i.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if reason, err := missing(ctx, err, ReasonMissingSecret, "Secret", ns, name); err != nil {
			return reason, err
		}
	}
	if name := p.Request.CertConfigMap; name != "" {
		_, err := i.kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if reason, err := missing(ctx, err, ReasonMissingCertConfigMap, "ConfigMap", ns, name); err != nil {
			return reason, err
		}
	}
	return "", nil
}

// missing interprets the answer to a GET of a referenced object.
func missing(ctx context.Context, err error, reason, kind, ns, name string) (string, error) {
	switch {
	case err == nil:
		return "", nil
	case apierrors.IsNotFound(err):
		return reason, fmt.Errorf("%s %s/%s does not exist: create it, the import starts when the request is sent again", kind, ns, name)
	case apierrors.IsForbidden(err):
		logging.FromContext(ctx).Debugw("no permission to check a reference, skipped", zap.String("kind", kind), zap.Error(err))
		return "", nil
	default:
		return "", fmt.Errorf("get %s %s/%s: %w", kind, ns, name, err)
	}
}

// reject records a Warning Event on the claim, reports the refusal to the
// updater (Failed for a request that cannot work, Pending for one that
// waits on something) and returns the permanent error that answers the
// CloudEvent. If the report cannot be delivered the answer is a retryable
// error, so the refusal is not lost.
func (i *Importer) reject(ctx context.Context, claim *corev1.PersistentVolumeClaim, reason, message string) error {
	if err := i.recorder.warn(ctx, claim, reason, message); err != nil {
		logging.FromContext(ctx).Warnw("could not record event", zap.Error(err))
	}
	if err := i.status(ctx, refusal(claim, reason, message)); err != nil {
		return fmt.Errorf("report refusal %s of claim %s/%s: %w", reason, claim.Namespace, claim.Name, err)
	}
	return function.Permanent(errors.New(reason + ": " + message))
}

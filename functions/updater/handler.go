package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
)

// maxTries bounds the GET → decide → PATCH rounds of one event when the
// claim keeps changing underneath; after that the event is answered 5xx
// and its sender retries later.
const maxTries = 5

// updater applies data pod events to claims. It keeps no state between
// events: every event reads the claim afresh.
type updater struct {
	kube    kubernetes.Interface
	now     func() time.Time
	tries   int
	metrics *metrics
}

// newHandler builds the updater's Handler from the function's environment.
func newHandler(_ context.Context, env function.Env) (function.Handler, error) {
	m, err := newMetrics(env.Metrics)
	if err != nil {
		return nil, err
	}
	u := &updater{kube: env.Kube, now: time.Now, tries: maxTries, metrics: m}
	return u.handle, nil
}

// handle applies one event. Malformed events are refused for good (400);
// events about a claim that is gone or was re-created are acknowledged;
// API errors are returned for a retry (5xx).
func (u *updater) handle(ctx context.Context, e cloudevents.Event) error {
	claim, pod, c, err := parse(e)
	if err != nil {
		return function.Permanent(err)
	}
	return u.apply(ctx, claim, pod, c)
}

// parse reads an event of the updater's two types into the claim and pod
// it names and the change it carries.
func parse(e cloudevents.Event) (events.Claim, events.Pod, change, error) {
	var (
		claim events.Claim
		pod   events.Pod
		c     change
	)
	switch e.Type() {
	case events.DataPodPhase:
		var p events.DataPodPhasePayload
		if err := events.Decode(e, events.DataPodPhase, &p); err != nil {
			return claim, pod, c, err
		}
		switch p.Phase {
		case events.PodPending, events.PodScheduled, events.PodRunning, events.PodSucceeded, events.PodFailed:
		default:
			return claim, pod, c, fmt.Errorf("event %s: unknown data pod phase %q", e.ID(), p.Phase)
		}
		if p.Restarts < 0 {
			return claim, pod, c, fmt.Errorf("event %s: negative restart count %d", e.ID(), p.Restarts)
		}
		claim, pod = p.Claim, p.Pod
		c = change{phase: p.Phase, reason: p.Reason, message: p.Message, restarts: p.Restarts, permanent: p.Permanent}
	case events.DataPodProgress:
		var p events.DataPodProgressPayload
		if err := events.Decode(e, events.DataPodProgress, &p); err != nil {
			return claim, pod, c, err
		}
		claim, pod = p.Claim, p.Pod
		c = change{done: p.Done, total: p.Total}
	default:
		return claim, pod, c, fmt.Errorf("event %s: type %q is not %s or %s", e.ID(), e.Type(), events.DataPodPhase, events.DataPodProgress)
	}
	if claim.Namespace == "" || claim.Name == "" {
		return claim, pod, c, fmt.Errorf("event %s names no claim (namespace %q, name %q)", e.ID(), claim.Namespace, claim.Name)
	}
	return claim, pod, c, nil
}

// apply reads the claim, decides and writes, re-reading on conflicts.
func (u *updater) apply(ctx context.Context, ref events.Claim, pod events.Pod, c change) error {
	log := logging.FromContext(ctx).With(zap.String("claim", ref.Namespace+"/"+ref.Name))
	pvcs := u.kube.CoreV1().PersistentVolumeClaims(ref.Namespace)
	for try := 1; try <= u.tries; try++ {
		claim, err := pvcs.Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			log.Debug("claim is gone, nothing to update")
			u.metrics.ignored.WithLabelValues("claim-gone").Inc()
			return nil
		}
		if err != nil {
			return fmt.Errorf("get claim %s/%s: %w", ref.Namespace, ref.Name, err)
		}
		if ref.UID != "" && string(claim.UID) != ref.UID {
			log.Debugw("event is about an earlier claim of that name", zap.String("eventUID", ref.UID), zap.String("claimUID", string(claim.UID)))
			u.metrics.ignored.WithLabelValues("other-claim").Inc()
			return nil
		}

		cur := annotations.StatusOf(claim.Annotations)
		next, changed, kubeEvents := decide(cur, c)
		if changed {
			patch, err := statusPatch(claim, next)
			if err != nil {
				return err
			}
			_, err = pvcs.Patch(ctx, claim.Name, types.MergePatchType, patch, metav1.PatchOptions{})
			switch {
			case apierrors.IsConflict(err):
				u.metrics.conflicts.Inc()
				log.Debugw("claim changed underneath, reading it again", zap.Int("try", try))
				continue
			case apierrors.IsNotFound(err):
				u.metrics.ignored.WithLabelValues("claim-gone").Inc()
				return nil
			case err != nil:
				return fmt.Errorf("patch status of claim %s/%s: %w", ref.Namespace, ref.Name, err)
			}
			u.metrics.writes.Inc()
			log.Debugw("status updated", zap.String("phase", next.Phase), zap.String("progress", next.Progress))
			u.record(ctx, claim, kubeEvents)
		} else {
			u.metrics.ignored.WithLabelValues("no-change").Inc()
		}

		// A final event means the data pod is done (or, failed for good,
		// would be restarted by the kubelet forever). Deleting it is
		// idempotent, so a resent final event retries a failed delete.
		if c.final() && claim.Annotations[annotations.RetainAfterCompletion] != "true" {
			return u.cleanup(ctx, claim, pod.Name, false)
		}
		// A retryable failure of the whole pod (evicted, deadline
		// exceeded) leaves a Failed pod that never restarts and blocks a
		// new one of the same name: delete it, and the event source asks
		// for the import again. A failed container of a live pod is
		// restarted by the kubelet, with its backoff, and left alone.
		if c.phase == events.PodFailed && !c.permanent {
			return u.cleanup(ctx, claim, pod.Name, true)
		}
		return nil
	}
	return fmt.Errorf("claim %s/%s: still conflicting after %d tries", ref.Namespace, ref.Name, u.tries)
}

// statusKeys are the annotations decide owns.
var statusKeys = [...]string{annotations.PodPhase, annotations.Progress, annotations.PodRestarts, annotations.Reason, annotations.Message}

// statusPatch is the JSON merge patch that moves the claim's status
// annotations to next: only the keys that differ, null for keys to remove,
// and the claim's resourceVersion, so the API server refuses it (409
// Conflict) if the claim changed since it was read.
func statusPatch(claim *corev1.PersistentVolumeClaim, next annotations.Status) ([]byte, error) {
	want := next.Annotations()
	diff := make(map[string]*string, len(statusKeys))
	for _, k := range statusKeys {
		have, had := claim.Annotations[k]
		if v, ok := want[k]; ok {
			if !had || have != v {
				diff[k] = &v
			}
		} else if had {
			diff[k] = nil
		}
	}
	type meta struct {
		ResourceVersion string             `json:"resourceVersion"`
		Annotations     map[string]*string `json:"annotations"`
	}
	b, err := json.Marshal(struct {
		Metadata meta `json:"metadata"`
	}{meta{ResourceVersion: claim.ResourceVersion, Annotations: diff}})
	if err != nil {
		return nil, fmt.Errorf("encode status patch of claim %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	return b, nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/logging"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/events"
	"github.com/cdi-functions/cdi-functions/pkg/function"
	"github.com/cdi-functions/cdi-functions/pkg/reason"
	"github.com/cdi-functions/cdi-functions/pkg/record"
	"github.com/cdi-functions/cdi-functions/pkg/reply"
)

// maxTries bounds the GET → decide → PATCH rounds of one event when the
// claim keeps changing underneath; after that the event is answered 5xx
// and its sender retries later.
const maxTries = 5

// updater applies data pod events to claims. It keeps no state between
// events but a cache of which claim a data pod belongs to: every event
// reads the claim afresh.
type updater struct {
	kube     kubernetes.Interface
	recorder *record.Recorder
	tries    int
	metrics  *metrics
	// senders are the component identities the updater trusts.
	senders senders
	// owners caches the claim UID of data pods by pod UID (see
	// authorize), so progress events cost no pod lookup.
	owners *cache.LRUExpireCache
	// reply tells the system that asked for a claim (an external
	// request) its outcome (reply.Sender.Send).
	reply func(ctx context.Context, e cloudevents.Event, replyTo, namespace string) error
	now   func() time.Time
}

// senders names the components whose events the updater takes.
type senders struct {
	// eventSource is the event source's user: pod-derived phases and
	// claim deletions.
	eventSource string
	// importer is the importer's user: its refusals.
	importer string
	// uploader is the uploader's user: its refusals.
	uploader string
	// cloner is the cloner's user: its refusals.
	cloner string
}

// newHandler builds the updater's Handler from the function's environment.
func newHandler(_ context.Context, env function.Env) (function.Handler, error) {
	u, err := newUpdater(env.Kube, env.Meter, senders{
		eventSource: env.ComponentUser(auth.EventSourceAccount),
		importer:    env.ComponentUser(auth.ImporterAccount),
		uploader:    env.ComponentUser(auth.UploaderAccount),
		cloner:      env.ComponentUser(auth.ClonerAccount),
	}, time.Now)
	if err != nil {
		return nil, err
	}
	replies, err := reply.FromEnv(env.Getenv, env.SinkToken)
	if err != nil {
		return nil, err
	}
	u.reply = replies.Send
	return u.handle, nil
}

// newUpdater returns an updater trusting senders.
func newUpdater(kube kubernetes.Interface, meter metric.Meter, s senders, now func() time.Time) (*updater, error) {
	m, err := newMetrics(meter)
	if err != nil {
		return nil, err
	}
	return &updater{
		kube: kube, tries: maxTries, metrics: m, senders: s,
		recorder: record.New(kube, "cdi-updater", "cdi-functions.io/updater", "cdi-updater", now),
		owners:   cache.NewLRUExpireCache(ownersCacheSize),
		reply:    func(context.Context, cloudevents.Event, string, string) error { return nil },
		now:      now,
	}, nil
}

// handle applies one event after checking its sender may send it.
// Malformed events are refused for good (400); events a sender may not
// send are refused (403) and change nothing; events about a claim that is
// gone or was re-created are acknowledged; API errors are returned for a
// retry (5xx).
func (u *updater) handle(ctx context.Context, e cloudevents.Event) error {
	id, _ := auth.FromContext(ctx)
	if e.Type() == events.ClaimDeleting {
		return u.claimDeleting(ctx, id, e)
	}
	m, err := parse(e)
	if err != nil {
		return function.Permanent(err)
	}
	if err := u.authorize(ctx, id, m); err != nil {
		return err
	}
	return u.apply(ctx, m.claim, m.pod, m.change)
}

// message is a DataPodPhase or DataPodProgress event, read.
type message struct {
	typ    string
	claim  events.Claim
	pod    events.Pod
	change change
}

// parse reads an event of the updater's two data pod types into the claim
// and pod it names and the change it carries. The claim's namespace, name
// and UID are required.
func parse(e cloudevents.Event) (message, error) {
	m := message{typ: e.Type()}
	switch e.Type() {
	case events.DataPodPhase:
		var p events.DataPodPhasePayload
		if err := events.Decode(e, events.DataPodPhase, &p); err != nil {
			return m, err
		}
		switch p.Phase {
		case events.PodPending, events.PodScheduled, events.PodRunning, events.PodSucceeded, events.PodFailed:
		default:
			return m, fmt.Errorf("event %s: unknown data pod phase %q", e.ID(), p.Phase)
		}
		if p.Restarts < 0 {
			return m, fmt.Errorf("event %s: negative restart count %d", e.ID(), p.Restarts)
		}
		m.claim, m.pod = p.Claim, p.Pod
		m.change = change{phase: p.Phase, reason: p.Reason, message: p.Message, restarts: p.Restarts, permanent: p.Permanent, ready: p.Ready}
	case events.DataPodProgress:
		var p events.DataPodProgressPayload
		if err := events.Decode(e, events.DataPodProgress, &p); err != nil {
			return m, err
		}
		m.claim, m.pod = p.Claim, p.Pod
		m.change = change{done: p.Done, total: p.Total}
	default:
		return m, fmt.Errorf("event %s: type %q is not one the updater takes", e.ID(), e.Type())
	}
	if m.claim.Namespace == "" || m.claim.Name == "" || m.claim.UID == "" {
		return m, fmt.Errorf("event %s names no claim fully (namespace %q, name %q, uid %q)", e.ID(), m.claim.Namespace, m.claim.Name, m.claim.UID)
	}
	return m, nil
}

// apply reads the claim, decides and writes, re-reading on conflicts.
func (u *updater) apply(ctx context.Context, ref events.Claim, pod events.Pod, c change) error {
	log := logging.FromContext(ctx).With(zap.String("claim", ref.Namespace+"/"+ref.Name))
	pvcs := u.kube.CoreV1().PersistentVolumeClaims(ref.Namespace)
	for try := 1; try <= u.tries; try++ {
		claim, err := pvcs.Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			log.Debug("claim is gone, nothing to update")
			inc(ctx, u.metrics.ignored, attribute.String("why", ignoredClaimGone))
			return nil
		}
		if err != nil {
			return fmt.Errorf("get claim %s/%s: %w", ref.Namespace, ref.Name, err)
		}
		if string(claim.UID) != ref.UID {
			log.Debugw("event is about an earlier claim of that name", zap.String("eventUID", ref.UID), zap.String("claimUID", string(claim.UID)))
			inc(ctx, u.metrics.ignored, attribute.String("why", ignoredOtherClaim))
			return nil
		}

		cur := annotations.StatusOf(claim.Annotations)
		next, changed, kubeEvents := decide(cur, c, outcomesOf(claim))
		if _, clone := claim.Annotations[annotations.CloneRequest]; clone && next.Phase == annotations.PhaseSucceeded {
			// The 2018 post's mark of a finished clone.
			next.CloneOf = "true"
			changed = changed || claim.Annotations[annotations.CloneOf] != "true"
		}
		if changed {
			patch, err := statusPatch(claim, next)
			if err != nil {
				return err
			}
			_, err = pvcs.Patch(ctx, claim.Name, types.MergePatchType, patch, metav1.PatchOptions{})
			switch {
			case apierrors.IsConflict(err):
				inc(ctx, u.metrics.conflicts)
				log.Debugw("claim changed underneath, reading it again", zap.Int("try", try))
				continue
			case apierrors.IsNotFound(err):
				inc(ctx, u.metrics.ignored, attribute.String("why", ignoredClaimGone))
				return nil
			case err != nil:
				return fmt.Errorf("patch status of claim %s/%s: %w", ref.Namespace, ref.Name, err)
			}
			inc(ctx, u.metrics.writes)
			log.Debugw("status updated", zap.String("phase", next.Phase), zap.String("progress", next.Progress))
			u.record(ctx, claim, kubeEvents)
		} else {
			inc(ctx, u.metrics.ignored, attribute.String("why", ignoredNoChange))
		}

		// The outcome of a claim an external request made goes back to
		// its sender, again when the final event comes again (the same
		// reply id): a reply that could not be sent fails the event, whose
		// sender sends it again.
		if c.final() && annotations.Final(next.Phase) {
			if err := u.replyOutcome(ctx, claim, next); err != nil {
				return err
			}
		}
		// A final event means the data pod is done (or, failed for good,
		// would be restarted by the kubelet forever). Deleting it is
		// idempotent, so a resent final event retries a failed delete.
		if c.final() && claim.Annotations[annotations.RetainAfterCompletion] != "true" {
			if err := u.cleanupCloneSource(ctx, claim); err != nil {
				return err
			}
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

// replyOutcome sends events.VolumeSucceeded or events.VolumeFailed for a
// claim made by an external request (annotations.RequestID); nothing for
// other claims.
func (u *updater) replyOutcome(ctx context.Context, claim *corev1.PersistentVolumeClaim, st annotations.Status) error {
	id, ok := claim.Annotations[annotations.RequestID]
	if !ok {
		return nil
	}
	typ := events.VolumeSucceeded
	if st.Phase != annotations.PhaseSucceeded {
		typ = events.VolumeFailed
	}
	e, err := events.NewVolumeReply(typ, events.VolumeReplyPayload{
		RequestID: id, RequestSource: claim.Annotations[annotations.RequestSource],
		Claim:  events.Claim{Namespace: claim.Namespace, Name: claim.Name, UID: string(claim.UID)},
		Reason: st.Reason, Message: st.Message,
	}, u.now())
	if err != nil {
		return err
	}
	if err := u.reply(ctx, e, claim.Annotations[annotations.ReplyTo], claim.Namespace); err != nil {
		if errors.Is(err, events.ErrRejected) {
			// The receiver refused the reply for good: sending it again
			// would not help.
			logging.FromContext(ctx).Warnw("the reply was refused", zap.String("reply", typ), zap.Error(err))
			return nil
		}
		return fmt.Errorf("reply %s for request %q: %w", typ, id, err)
	}
	return nil
}

// statusKeys are the annotations decide owns.
var statusKeys = [...]string{annotations.PodPhase, annotations.Progress, annotations.PodRestarts, annotations.Reason, annotations.Message,
	annotations.PodReady, annotations.CloneOf}

// outcomesOf are the reasons of the claim's kind of work: an upload
// target's, a clone's, or an import's.
func outcomesOf(claim *corev1.PersistentVolumeClaim) reason.Outcomes {
	if _, ok := annotations.UploadRequestOf(claim.Annotations); ok {
		return reason.UploadOutcomes
	}
	if _, ok := claim.Annotations[annotations.CloneRequest]; ok {
		return reason.CloneOutcomes
	}
	return reason.ImportOutcomes
}

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

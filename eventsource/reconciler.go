package main

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/reconciler"

	"github.com/cdi-functions/cdi-functions/pkg/datapod"
)

// Reconciler derives the events a claim's state calls for and hands them
// to an Emitter. Keys are claims (namespace/name); data pods enqueue their
// claim. It is leader-aware: a replica reconciles only the claims of the
// buckets it leads, so two replicas never both emit.
type Reconciler struct {
	reconciler.LeaderAwareFuncs

	// Claims and Pods list from the informers' caches (Pods: data pods
	// only).
	Claims corev1listers.PersistentVolumeClaimLister
	Pods   corev1listers.PodLister
	// Emitter sends the intents.
	Emitter *Emitter
	// Requeue schedules the claim to be reconciled again after a delay.
	Requeue func(claim types.NamespacedName, after time.Duration)
	// Policy says when requests are sent again and when restarts end the
	// work.
	Policy Policy
	// Now is the clock.
	Now func() time.Time
}

var (
	_ controller.Reconciler  = (*Reconciler)(nil)
	_ reconciler.LeaderAware = (*Reconciler)(nil)
)

// Reconcile implements controller.Reconciler. It never waits for the
// network: sending is the Emitter's.
func (r *Reconciler) Reconcile(ctx context.Context, key string) error {
	logger := logging.FromContext(ctx)
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		logger.Errorw("Invalid key", zap.String("key", key), zap.Error(err))
		return nil
	}
	nn := types.NamespacedName{Namespace: ns, Name: name}
	if !r.IsLeaderFor(nn) {
		return controller.NewSkipKey(key)
	}
	claim, err := r.Claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // gone: its data pods go with it (owner references)
	}
	if err != nil {
		return fmt.Errorf("get claim %s: %w", key, err)
	}
	pods, err := r.Pods.Pods(ns).List(labels.SelectorFromSet(labels.Set{datapod.LabelClaimUID: string(claim.UID)}))
	if err != nil {
		return fmt.Errorf("list data pods of claim %s: %w", key, err)
	}
	intents, err := Intents(claim, pods, r.Policy, r.Now())
	if err != nil {
		return controller.NewPermanentError(err)
	}
	for _, in := range intents {
		if r.Emitter.Emit(ctx, nn, in) {
			logger.Debugw("Queued event", zap.String("type", in.Event.Type()), zap.String("id", in.Event.ID()))
		}
	}
	if _, waiting := importIntent(claim, pods); waiting {
		// Level-based: while the claim still has no data pod, ask again
		// with backoff (a lost event, a consumer that was down, a Secret
		// or room in a quota that may appear).
		r.requeue(nn, importSubject(string(claim.UID)))
	} else {
		// A data pod took the work: a later loss of it asks at once.
		r.Emitter.Forget(importSubject(string(claim.UID)))
	}
	if _, cloning := cloneIntent(claim); cloning {
		// A clone is asked for again with backoff for as long as it is
		// unfinished: its source pod lives in another namespace, so no
		// watch here sees it go.
		r.requeue(nn, cloneSubject(string(claim.UID)))
	}
	if _, deleting := deletingIntent(claim, pods); deleting {
		r.requeue(nn, deletingSubject(string(claim.UID)))
	}
	return nil
}

// requeue looks at the claim again when subject's event is due again.
func (r *Reconciler) requeue(claim types.NamespacedName, subject string) {
	after, ok := r.Emitter.DueIn(subject)
	if !ok {
		after = r.Policy.Resend.After
	}
	r.Requeue(claim, max(after, minRequeue))
}

// minRequeue keeps a claim whose event is due at once from spinning.
const minRequeue = time.Second

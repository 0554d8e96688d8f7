package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	pvcinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/persistentvolumeclaim"
	podinformer "knative.dev/pkg/client/injection/kube/informers/core/v1/pod/filtered"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/reconciler"

	"github.com/cdi-functions/cdi-functions/pkg/annotations"
	"github.com/cdi-functions/cdi-functions/pkg/auth"
	"github.com/cdi-functions/cdi-functions/pkg/datapod"
	"github.com/cdi-functions/cdi-functions/pkg/events"
)

// Timing of the source.
const (
	// resendFirst and resendMax: an import is requested again while its
	// claim still has no data pod (a missing Secret, a full quota), first
	// after resendFirst, then backing off to every resendMax; so an import
	// starts at most resendMax after what it waited for appears.
	resendFirst = 5 * time.Second
	resendMax   = 20 * time.Second
	// retryDropped: how soon a claim whose event was dropped is derived
	// again.
	retryDropped = 30 * time.Second
	// defaultMaxRestarts: restarts of a data pod that end its work Failed
	// (the kubelet's backoff makes ten about half an hour).
	defaultMaxRestarts = 10
	// podGoneDelay: how long after a data pod disappears its claim is
	// looked at again. The updater marks a claim finished before it deletes
	// its data pod, but the two watches are not ordered; the delay lets the
	// claim's update arrive first instead of requesting a finished import.
	podGoneDelay = 2 * time.Second
	// ledgerSize bounds the subjects (claims, pods) remembered as sent.
	ledgerSize = 50000
	// staleInFlight: an event in flight longer than this is presumed lost.
	staleInFlight = 5 * time.Minute
)

// NewController wires the source (an injection.ControllerConstructor):
// the claim informer and the data pod informer (filtered by
// datapod.Selector, see main) feed a work queue of claim keys; the
// Reconciler derives intents; an Emitter sends them to K_SINK or the
// routes of the config-routing ConfigMap.
func NewController(ctx context.Context, cmw configmap.Watcher) *controller.Impl {
	logger := logging.FromContext(ctx)
	claims := pvcinformer.Get(ctx)
	pods := podinformer.Get(ctx, datapod.Selector)

	routes := newRouteTable(os.Getenv(events.SinkEnv))
	if routes.Routes().Sink == "" {
		routes.watch(cmw, logger)
	}
	logger.Infow("Sending events", "routes", routes.Routes().String())
	tokenFile := os.Getenv(envTokenFile)
	if tokenFile == "" {
		tokenFile = auth.TokenFile
	}
	// Through a Broker with OIDC the SinkBinding mounts the Broker's token.
	sender, err := events.NewSender(routes.Routes, events.SenderOptions{
		Token: auth.NewFileToken(tokenFile).Token, SinkToken: auth.OptionalFileToken(auth.SinkTokenFile)})
	if err != nil {
		logger.Fatalw("Creating the event sender", "error", err)
	}
	m, err := newMetrics(otel.GetMeterProvider())
	if err != nil {
		logger.Fatalw("Creating metrics", "error", err)
	}

	maxRestarts, err := maxRestartsFromEnv(os.Getenv)
	if err != nil {
		logger.Fatalw("Reading the configuration", "error", err)
	}
	r := &Reconciler{
		Claims: claims.Lister(),
		Pods:   pods.Lister(),
		Policy: Policy{Resend: Backoff{After: resendFirst, Max: resendMax}, MaxRestarts: maxRestarts},
		Now:    time.Now,
	}
	impl := controller.NewContext(ctx, r, controller.ControllerOptions{WorkQueueName: component, Logger: logger})
	r.Requeue = impl.EnqueueKeyAfter
	r.PromoteFunc = func(b reconciler.Bucket, enq func(reconciler.Bucket, types.NamespacedName)) error {
		// Leading a bucket: derive every claim of it again (the events a
		// previous leader may not have sent). Claims are cheap to look at.
		all, err := claims.Lister().List(labels.Everything())
		if err != nil {
			return err
		}
		for _, c := range all {
			enq(b, types.NamespacedName{Namespace: c.Namespace, Name: c.Name})
		}
		return nil
	}
	ledger := newLedger(ledgerSize, staleInFlight)
	r.Emitter = NewEmitter(EmitterOptions{
		Send:     sender.Send,
		Retry:    func(claim types.NamespacedName) { impl.EnqueueKeyAfter(claim, retryDropped) },
		IsLeader: r.IsLeaderFor,
		Ledger:   ledger,
		Metrics:  m,
	})
	go r.Emitter.Run(ctx)

	claims.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: wantsWork,
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    impl.Enqueue,
			UpdateFunc: controller.PassNew(impl.Enqueue),
			DeleteFunc: func(obj any) {
				if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				if c, ok := obj.(*corev1.PersistentVolumeClaim); ok {
					ledger.forget(importSubject(string(c.UID)))
					ledger.forget(uploadSubject(string(c.UID)))
					ledger.forget(cloneSubject(string(c.UID)))
				}
			},
		},
	})
	if err := claims.Informer().AddIndexers(cache.Indexers{indexCloneSource: cloneSources}); err != nil {
		logger.Fatalw("Indexing clone claims by source", "error", err)
	}
	clonesOf := func(obj any) { enqueueClonesOf(claims.Informer().GetIndexer(), ledger.forget, impl.EnqueueKey, obj) }
	claims.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    clonesOf,
		UpdateFunc: func(_, obj any) { clonesOf(obj) },
		DeleteFunc: clonesOf,
	})
	pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { enqueueClaimOf(impl.EnqueueKey, obj) },
		UpdateFunc: func(_, obj any) { enqueueClaimOf(impl.EnqueueKey, obj) },
		DeleteFunc: func(obj any) {
			pod := podOf(obj)
			if pod == nil {
				return
			}
			ledger.forget(podSubject(string(pod.UID)))
			ledger.forget(importSubject(pod.Labels[datapod.LabelClaimUID]))
			ledger.forget(uploadSubject(pod.Labels[datapod.LabelClaimUID]))
			enqueueClaimOf(func(k types.NamespacedName) { impl.EnqueueKeyAfter(k, podGoneDelay) }, pod)
			// A pod that goes frees room (a pods quota): the namespace's
			// waiting imports are asked again now rather than at their
			// next resend.
			waiting, err := claims.Lister().PersistentVolumeClaims(pod.Namespace).List(labels.Everything())
			if err != nil {
				return
			}
			for _, c := range waiting {
				if wantsWork(c) && !finished(c) {
					ledger.forget(importSubject(string(c.UID)))
					ledger.forget(uploadSubject(string(c.UID)))
					impl.EnqueueKeyAfter(types.NamespacedName{Namespace: c.Namespace, Name: c.Name}, podGoneDelay)
				}
			}
		},
	})
	return impl
}

// envTokenFile names the event source's projected token for the events
// it sends (default auth.TokenFile); envMaxRestarts the restarts of a data
// pod that end its work (default defaultMaxRestarts; 0: no limit).
const (
	envTokenFile   = "TOKEN_FILE"
	envMaxRestarts = "DATAPOD_MAX_RESTARTS"
)

// maxRestartsFromEnv reads envMaxRestarts.
func maxRestartsFromEnv(getenv func(string) string) (int32, error) {
	v := getenv(envMaxRestarts)
	if v == "" {
		return defaultMaxRestarts, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: want a number of restarts, 0 for no limit", envMaxRestarts, v)
	}
	return int32(n), nil
}

// wantsWork filters claim events: only claims with an import request or
// an upload target are reconciled for their own changes (data pods
// enqueue theirs).
func wantsWork(obj any) bool {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	c, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return false
	}
	_, imp := annotations.ImportRequestOf(c.Annotations)
	_, up := annotations.UploadRequestOf(c.Annotations)
	_, clone := c.Annotations[annotations.CloneRequest]
	return imp || up || clone
}

// indexCloneSource indexes clone claims by the "namespace/name" of their
// source, so that a change of a source claim derives its clones again.
const indexCloneSource = "cloneSource"

func cloneSources(obj any) ([]string, error) {
	c, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil, nil
	}
	src, ok, err := annotations.CloneSourceOf(c.Annotations)
	if !ok || err != nil {
		return nil, nil
	}
	return []string{src.String()}, nil
}

// enqueueClonesOf enqueues the clones of the claim obj (they wait for
// it to exist, be bound or finish its own work), each after forget: its
// request is the same event as before, due again now.
func enqueueClonesOf(indexer cache.Indexer, forget func(subject string), enqueue func(types.NamespacedName), obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	c, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	clones, err := indexer.ByIndex(indexCloneSource, c.Namespace+"/"+c.Name)
	if err != nil {
		return
	}
	for _, o := range clones {
		if clone, ok := o.(*corev1.PersistentVolumeClaim); ok && !finished(clone) {
			forget(cloneSubject(string(clone.UID)))
			enqueue(types.NamespacedName{Namespace: clone.Namespace, Name: clone.Name})
		}
	}
}

// podOf returns the pod of an informer event (also of a tombstone).
func podOf(obj any) *corev1.Pod {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, _ := obj.(*corev1.Pod)
	return pod
}

// enqueueClaimOf enqueues the claim of the data pod obj.
func enqueueClaimOf(enqueue func(types.NamespacedName), obj any) {
	if pod := podOf(obj); pod != nil {
		if claim, ok := datapod.ClaimOf(pod); ok {
			enqueue(claim)
		}
	}
}

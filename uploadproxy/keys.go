package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"knative.dev/pkg/logging"
)

// Waiting for a Secret that does not exist yet: the log says so first
// after waitLogFirst, then backing off to every waitLogMax.
const (
	waitLogFirst = 2 * time.Second
	waitLogMax   = time.Minute
)

// secretWatch follows one Secret of the system namespace through an
// informer restricted to its name (so RBAC grants list and watch of that
// Secret alone) and keeps the last version that parsed: a broken update
// is logged and the previous value stays in use; a deleted Secret too.
type secretWatch[T any] struct {
	namespace, name string
	// creator names the component that creates the Secret, for the logs.
	creator string
	parse   func(data map[string][]byte) (*T, error)
	// onChange, when set, is called with every new value.
	onChange func(*T)

	informer cache.SharedIndexInformer
	current  atomic.Pointer[T]
	mu       sync.Mutex
	version  string // resourceVersion of current
	problem  error  // why the last version seen is not in use
	loaded   chan struct{}
}

// newSecretWatch returns the watch of Secret namespace/name; run starts it.
func newSecretWatch[T any](kube kubernetes.Interface, namespace, name, creator string, parse func(map[string][]byte) (*T, error)) *secretWatch[T] {
	f := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
	return &secretWatch[T]{
		namespace: namespace, name: name, creator: creator, parse: parse,
		informer: f.Core().V1().Secrets().Informer(), loaded: make(chan struct{}),
	}
}

// Current is the value of the last version of the Secret that parsed, nil
// before one did.
func (w *secretWatch[T]) Current() *T { return w.current.Load() }

// String names the Secret.
func (w *secretWatch[T]) String() string { return w.namespace + "/" + w.name }

// run watches the Secret until ctx is done, logging while it does not
// exist (or does not parse) yet.
func (w *secretWatch[T]) run(ctx context.Context) error {
	logger := logging.FromContext(ctx).With(zap.String("secret", w.String()))
	apply := func(obj any) {
		if s, ok := obj.(*corev1.Secret); ok && s.Namespace == w.namespace && s.Name == w.name {
			w.apply(logger, s)
		}
	}
	if _, err := w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    apply,
		UpdateFunc: func(_, obj any) { apply(obj) },
		DeleteFunc: func(any) {
			logger.Warn("The Secret was deleted: keeping what it held until it is created again")
		},
	}); err != nil {
		return fmt.Errorf("watch Secret %s: %w", w, err)
	}
	go w.informer.Run(ctx.Done())
	w.logWhileWaiting(ctx, logger)
	return nil
}

// apply takes a version of the Secret.
func (w *secretWatch[T]) apply(logger *zap.SugaredLogger, s *corev1.Secret) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.ResourceVersion != "" && s.ResourceVersion == w.version {
		return
	}
	v, err := w.parse(s.Data)
	if err != nil {
		w.problem = fmt.Errorf("the Secret %s (resourceVersion %s): %w", w, s.ResourceVersion, err)
		logger.Errorw("The Secret does not parse: keeping the previous version", zap.Error(err), zap.String("resourceVersion", s.ResourceVersion))
		return
	}
	first := w.current.Load() == nil
	w.current.Store(v)
	w.version, w.problem = s.ResourceVersion, nil
	if w.onChange != nil {
		w.onChange(v)
	}
	if first {
		close(w.loaded)
	}
	logger.Infow("Loaded the Secret", zap.String("resourceVersion", s.ResourceVersion))
}

// logWhileWaiting logs, backing off, until the Secret is loaded.
func (w *secretWatch[T]) logWhileWaiting(ctx context.Context, logger *zap.SugaredLogger) {
	go func() {
		start, wait := time.Now(), waitLogFirst
		for {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-w.loaded:
				t.Stop()
				return
			case <-t.C:
			}
			w.mu.Lock()
			problem := w.problem
			w.mu.Unlock()
			if problem != nil {
				logger.Errorw("Not ready: the Secret does not parse", zap.Error(problem), zap.Duration("waited", time.Since(start).Round(time.Second)))
			} else {
				logger.Warnf("Not ready: waiting for the Secret %s, which %s creates", w, w.creator)
			}
			wait = min(2*wait, waitLogMax)
		}
	}()
}

// ready reports why the Secret is not in use yet, nil once it is.
func (w *secretWatch[T]) ready() error {
	if w.Current() != nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.problem != nil {
		return w.problem
	}
	return fmt.Errorf("waiting for the Secret %s (%s creates it)", w, w.creator)
}

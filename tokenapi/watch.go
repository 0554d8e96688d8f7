package main

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// watchNamed calls onChange with the object ns/name of resource
// ("secrets", "configmaps") whenever it is added or changes, until ctx
// ends. It lists and watches with a metadata.name field selector, so RBAC
// rules restricted to that resourceName suffice.
func watchNamed[T runtime.Object](ctx context.Context, kube kubernetes.Interface, resource, ns, name string, example T, onChange func(T)) error {
	lw := cache.NewListWatchFromClient(kube.CoreV1().RESTClient(), resource, ns, fields.OneTermEqualSelector("metadata.name", name))
	inf := cache.NewSharedInformer(lw, example, 10*time.Minute)
	call := func(o any) {
		if t, ok := o.(T); ok {
			onChange(t)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    call,
		UpdateFunc: func(_, o any) { call(o) },
	}); err != nil {
		return fmt.Errorf("watch %s %s/%s: %w", resource, ns, name, err)
	}
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("watch %s %s/%s: %w", resource, ns, name, ctx.Err())
	}
	return nil
}

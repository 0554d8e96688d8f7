package main

import "k8s.io/client-go/tools/cache"

// cacheTombstone wraps obj as an informer's tombstone.
func cacheTombstone(obj any) cache.DeletedFinalStateUnknown {
	return cache.DeletedFinalStateUnknown{Key: "tombstone", Obj: obj}
}

// Command cdi-eventsource is the event source of cdi-functions: an
// informer-driven, level-based controller that watches
// PersistentVolumeClaims in every namespace and the data pods that fill
// them, and emits the CloudEvents of the catalogue (pkg/events) that the
// state calls for:
//
//   - ImportRequested for a claim that asks for an import
//     (cdi.kubevirt.io/storage.import.endpoint), is not finished and has no
//     data pod, again every resend interval while that lasts;
//   - DataPodPhase for every new observation of a data pod's status, so a
//     pod that crashes, is OOM-killed, evicted or never scheduled still ends
//     as a clear status on its claim.
//
// Events go to K_SINK (the Knative SinkBinding convention) or, without
// Knative, to the function the config-routing ConfigMap names for their
// type. Sending happens off the reconcile path, through a bounded queue:
// a slow or down sink never stalls the watch, and a dropped event is
// derived again from the state. Leader election (knative.dev/pkg
// sharedmain, config-leader-election) keeps two replicas from both
// emitting.
package main

import (
	filteredfactory "knative.dev/pkg/client/injection/kube/informers/factory/filtered"
	"knative.dev/pkg/injection/sharedmain"
	"knative.dev/pkg/signals"

	"github.com/cdi-functions/cdi-functions/pkg/datapod"
)

// component names the program in logs, leases and metrics.
const component = "cdi-eventsource"

func main() {
	// The pod informer lists only data pods (a label selector), so its
	// cache holds none of the cluster's other pods.
	ctx := filteredfactory.WithSelectors(signals.NewContext(), datapod.Selector)
	sharedmain.MainWithContext(ctx, component, NewController)
}

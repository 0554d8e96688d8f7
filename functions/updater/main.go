// Command updater is the annotation updater function: it applies
// DataPodProgress and DataPodPhase events (from data pods and from the
// event source) to the claim they are about. It writes the status
// annotations (cdi.kubevirt.io/storage.pod.phase, …import.progress,
// …pod.restarts, …pod.reason, …pod.message), records Kubernetes Events on
// the claim (ImportSucceeded, ErrImportFailed, ImportRetrying) and deletes
// the finished data pod unless the claim asks to retain it.
//
// The decision (decide.go) is pure and only moves a claim forward, so
// duplicated and out-of-order events are harmless; the write (handler.go)
// is a merge patch guarded by the claim's resourceVersion.
package main

import "github.com/cdi-functions/cdi-functions/pkg/function"

func main() {
	function.Main("updater", newHandler)
}

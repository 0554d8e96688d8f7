// Command cdi-requester is the requester function: it receives
// VolumeRequested CloudEvents from external systems (a CI pipeline, an
// image-build service, a GitOps controller) and creates, on the sender's
// behalf and idempotently by request id, the annotated claim that fills
// itself (see docs/events.md, "External triggers").
package main

import "github.com/cdi-functions/cdi-functions/pkg/function"

func main() {
	function.Main("requester", newHandler)
}

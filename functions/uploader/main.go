// Command cdi-uploader is the uploader function: it receives
// UploadRequested CloudEvents and creates, idempotently, the upload data
// pod of the claim and the pod's credential Secret (see docs/events.md and
// docs/upload.md). The bytes arrive through the upload proxy.
package main

import "github.com/cdi-functions/cdi-functions/pkg/function"

func main() {
	function.Main("uploader", newHandler)
}

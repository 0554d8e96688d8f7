// Command cdi-importer is the importer function: it receives
// ImportRequested CloudEvents and creates, idempotently, the data pod that
// imports the requested image into the claim (see docs/events.md).
package main

import "github.com/cdi-functions/cdi-functions/pkg/function"

func main() {
	function.Main("importer", newHandler)
}

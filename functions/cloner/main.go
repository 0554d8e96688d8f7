// Command cdi-cloner is the cloner function: it receives CloneRequested
// CloudEvents and makes, idempotently, the two data pods of a clone once
// the clone is authorized and its source is ready: the clone target pod
// (in the target claim's namespace) behind its Service, and the clone
// source pod (in the source claim's namespace, the source mounted
// read-only), each with its Secret of credentials unique to the clone
// (see docs/events.md and docs/security.md).
package main

import "github.com/cdi-functions/cdi-functions/pkg/function"

func main() {
	function.Main("cloner", newHandler)
}

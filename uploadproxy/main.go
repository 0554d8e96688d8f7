// Command cdi-uploadproxy is the upload proxy: the HTTPS front door of the
// 2018 post's `curl -v --insecure -H "Authorization: Bearer $TOKEN"
// --data-binary @disk.qcow2 https://NODE:31001/v1alpha1/upload`.
//
// It serves pkg/uploadproxy's Handler with the pieces only a running
// program has: a Locator over informers (claims, and upload data pods
// only), the upload token keys and the upload pod authority read from
// their Secrets in the system namespace and followed as they change, and
// its own serving certificate, made and renewed in a Secret of the system
// namespace and swapped without a restart. It never reads a Secret in a
// user's namespace. The body of an upload is streamed, never buffered, and
// no server timeout bounds how long an upload may take.
package main

import (
	"fmt"
	"os"

	"knative.dev/pkg/signals"
)

func main() {
	if err := run(signals.NewContext(), os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", component, err)
		os.Exit(1)
	}
}

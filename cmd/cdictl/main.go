// Command cdictl is the user's client of cdi-functions, also a kubectl
// plugin (kubectl cdictl, installed as kubectl-cdictl). Its upload command
// fills a claim with a local disk image over the resumable upload
// endpoint, resuming by itself after a dropped connection or a restarted
// proxy.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
